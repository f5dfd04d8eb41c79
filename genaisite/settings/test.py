"""pytest: the real embedded Postgres, a fixed key, fast password hashing."""

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-used-anywhere-else-0123456789abcdef"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests get their own queue file so a running `make run` worker never takes a test's task (or vice versa).
if "filename" in HUEY:  # noqa: F405
    HUEY["filename"] = str(DATA_DIR / "test-huey.sqlite3")  # noqa: F405
# Uploaded files of the test run; worker processes started by tests read the same directory.
MEDIA_ROOT = DATA_DIR / "test-media"  # noqa: F405
