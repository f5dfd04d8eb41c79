"""What the provider's claims decide here, as plain functions of the claims and the settings (docs/sso.md)."""

from accounts.models import Role

# Several mapped claim values give the strongest of their roles.
ROLE_RANK = [Role.VIEWER, Role.MEMBER, Role.MODERATOR, Role.ADMIN]
DEFAULT_ROLE = Role.MEMBER


def claims_of(extra_data: dict) -> dict:
    """One view of what the provider said: the verified ID token's claims, with the userinfo answer (fetched with its
    access token and about the same subject) over them."""
    return {**(extra_data.get("id_token") or {}), **(extra_data.get("userinfo") or {})}


def email_of(claims: dict) -> str:
    email = claims.get("email")
    return email.strip() if isinstance(email, str) else ""


def email_verified(claims: dict) -> bool:
    # Some providers send the string "true"; anything else but a true boolean is not a yes.
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def email_domain_allowed(email: str, allowed_domains: list[str]) -> bool:
    """Empty ``allowed_domains`` allows every domain; otherwise the address's domain must be one of them exactly
    (a sub-domain is a domain of its own)."""
    if not allowed_domains:
        return True
    _, at, domain = email.rpartition("@")
    return bool(at) and domain.lower() in allowed_domains


def claim_values(extra_data: dict, claim: str) -> set[str]:
    """The values of ``claim`` in the ID token and in userinfo together (Entra ID sends groups in the token only,
    others in userinfo only): a list of strings, or one string."""
    values: set[str] = set()
    for source in (extra_data.get("id_token") or {}, extra_data.get("userinfo") or {}):
        value = source.get(claim)
        if isinstance(value, str):
            values.add(value)
        elif isinstance(value, list):
            values.update(item for item in value if isinstance(item, str))
    return values


def role_from_claims(extra_data: dict, *, claim: str, role_map: dict[str, str]) -> str:
    """The strongest role the claim's values map to; the default role when none maps (a missing claim counts as no
    values, so someone removed from every group loses their role rather than keeping it)."""
    mapped = [role_map[value] for value in claim_values(extra_data, claim) if value in role_map]
    return max(mapped, key=ROLE_RANK.index, default=DEFAULT_ROLE)


def username_hints(claims: dict) -> list[str]:
    """What a new account's username is made from, best first (allauth turns the first usable one into a unique,
    valid username: e-mail addresses lose their domain, taken names get a suffix)."""
    hints = [claims.get(name) for name in ("preferred_username", "email", "nickname", "name")]
    return [hint for hint in hints if isinstance(hint, str) and hint.strip()] + ["user"]
