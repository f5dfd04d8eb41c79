"""OpenID Connect ID tokens, verified by us on every sign-in: RS256 only, signed by a key of the provider's JWKS,
issued by the provider's issuer, for our client, not expired, carrying the nonce of this sign-in exactly once.

allauth skips the signature when it fetched the token itself (the spec allows trusting TLS there) and sends no nonce;
we check both, so a compromised or misbehaving endpoint cannot sign anyone in.
"""

import hashlib
import secrets
import time

import jwt
from django.core.cache import cache

from accounts.sso.refusals import SSORefused

ALGORITHMS = ["RS256"]
# Clock skew tolerated between the provider and us.
LEEWAY_SECONDS = 60
REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat"]
NONCE_CACHE_PREFIX = "sso:nonce:"

# Most specific first: several PyJWT errors subclass others.
_REASONS: list[tuple[type[Exception], str]] = [
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.InvalidAlgorithmError, "bad_algorithm"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
]


def verify_id_token(id_token: str, *, jwks: dict, issuer: str, client_id: str) -> dict:
    """The claims of ``id_token`` once every check passed; SSORefused naming the first that failed."""
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as exc:
        raise SSORefused("malformed_token", str(exc)) from exc
    if header.get("alg") not in ALGORITHMS:
        raise SSORefused("bad_algorithm", f"alg {header.get('alg')!r}")
    key = signing_key(jwks, header.get("kid"))
    try:
        claims = jwt.decode(
            id_token,
            key=key,
            algorithms=ALGORITHMS,
            audience=client_id,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.PyJWTError as exc:
        reason = next((code for kind, code in _REASONS if isinstance(exc, kind)), "malformed_token")
        raise SSORefused(reason, str(exc)) from exc
    # With several audiences, the token must say it was issued to us (OpenID Connect Core 3.1.3.7).
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise SSORefused("wrong_audience", "azp is not our client")
    return claims


def signing_key(jwks: dict, kid: str | None):
    """The RSA signing key ``kid`` names in the provider's key set (the only key, when the token names none)."""
    candidates = [
        entry
        for entry in jwks.get("keys", [])
        if isinstance(entry, dict) and entry.get("kty") == "RSA" and entry.get("use", "sig") == "sig"
    ]
    if kid is not None:
        candidates = [entry for entry in candidates if entry.get("kid") == kid]
    if len(candidates) != 1:
        raise SSORefused("unknown_key", f"kid {kid!r} matches {len(candidates)} signing keys")
    try:
        return jwt.PyJWK(candidates[0], algorithm="RS256").key
    except jwt.PyJWTError as exc:
        raise SSORefused("unknown_key", str(exc)) from exc


def nonce_new() -> str:
    return secrets.token_urlsafe(32)


def nonce_consume(claims: dict, *, expected: str | None) -> None:
    """The token must carry the nonce this browser's sign-in sent, and no token may use a nonce twice: a replayed
    ID token is refused even if it came back along a valid state."""
    nonce = claims.get("nonce")
    if not expected or not isinstance(nonce, str) or not nonce:
        raise SSORefused("nonce_missing")
    # Kept until the token expires (after which the token itself is refused); add() is atomic on the shared cache,
    # so two callbacks racing with one token cannot both pass.
    ttl = max(int(claims["exp"] - time.time()) + LEEWAY_SECONDS, LEEWAY_SECONDS)
    digest = hashlib.sha256(f"{claims['iss']}\n{nonce}".encode()).hexdigest()
    if not cache.add(NONCE_CACHE_PREFIX + digest, 1, timeout=ttl):
        raise SSORefused("nonce_reused")
    if not secrets.compare_digest(nonce, expected):
        raise SSORefused("nonce_mismatch")
