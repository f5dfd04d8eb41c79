"""API key material: generation and verification through djangorestframework-api-key's KeyGenerator.

A key reads ``gsk_<8 random>.<40 random>``: the part before the dot is the stored, visible prefix; the whole key is
hashed with SHA-512 (suited to high-entropy random secrets) and compared in constant time.
"""

from django.utils.crypto import get_random_string
from rest_framework_api_key.crypto import KeyGenerator

KEY_MARKER = "gsk_"


class _Generator(KeyGenerator):
    def get_prefix(self) -> str:
        # The marker lets secret scanners (and people) recognise a leaked genaisite key.
        return KEY_MARKER + get_random_string(self.prefix_length)


generator = _Generator(prefix_length=8, secret_key_length=40)


def new_key() -> tuple[str, str, str]:
    """Returns (the full secret key, its prefix, its hash)."""
    return generator.generate()


def prefix_of(raw_key: str) -> str | None:
    prefix, dot, secret = raw_key.partition(".")
    if not dot or not secret or not prefix.startswith(KEY_MARKER) or len(prefix) > 20:
        return None
    return prefix


def matches(raw_key: str, hashed_key: str) -> bool:
    return generator.verify(raw_key, hashed_key)
