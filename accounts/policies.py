"""Effective limits for a user: the role's policy with the user's overrides applied."""

from dataclasses import dataclass, fields

from accounts.models import PolicyOverride, Role, RolePolicy, User

MB = 1024 * 1024

# Used when a role has no policy row (e.g. one deleted by hand): the most restrictive sensible limits.
FALLBACK = RolePolicy(
    role=Role.VIEWER,
    allowed_models=[],
    daily_token_budget=0,
    requests_per_minute=1,
    max_upload_mb=0,
    max_documents=0,
    web_access=False,
)
OVERRIDABLE = (
    "allowed_models",
    "daily_token_budget",
    "requests_per_minute",
    "max_upload_mb",
    "max_documents",
    "web_access",
)


@dataclass(frozen=True)
class Policy:
    role: str
    allowed_models: tuple[str, ...]
    daily_token_budget: int
    requests_per_minute: int
    max_upload_bytes: int
    max_documents: int
    web_access: bool

    def allows_model(self, model: str) -> bool:
        return not self.allowed_models or model in self.allowed_models

    def as_dict(self) -> dict:
        return {field.name: getattr(self, field.name) for field in fields(self)} | {
            "allowed_models": list(self.allowed_models)
        }


def policy_for(user: User) -> Policy:
    role_policy = RolePolicy.objects.filter(role=user.role).first() or FALLBACK
    override = PolicyOverride.objects.filter(user=user).first()
    values = {name: getattr(role_policy, name) for name in OVERRIDABLE}
    if override is not None:
        values |= {name: getattr(override, name) for name in OVERRIDABLE if getattr(override, name) is not None}
    return Policy(
        role=user.role,
        allowed_models=tuple(values["allowed_models"] or ()),
        daily_token_budget=values["daily_token_budget"],
        requests_per_minute=values["requests_per_minute"],
        max_upload_bytes=values["max_upload_mb"] * MB,
        max_documents=values["max_documents"],
        web_access=values["web_access"],
    )
