"""Effective limits for a user: the role's policy with the user's overrides applied."""

import time
from dataclasses import dataclass, fields

from accounts.models import PolicyOverride, Role, RolePolicy, User

MB = 1024 * 1024

# Starting limits per role, created when missing after every migrate (and after a test database flush); admins
# tune them in the admin site afterwards. (Migration 0003 holds the same values as of that migration.)
DEFAULT_POLICIES = {
    Role.ADMIN: {
        "daily_token_budget": 2_000_000,
        "requests_per_minute": 120,
        "max_upload_mb": 100,
        "max_documents": 5000,
    },
    Role.MODERATOR: {
        "daily_token_budget": 500_000,
        "requests_per_minute": 60,
        "max_upload_mb": 50,
        "max_documents": 1000,
    },
    Role.MEMBER: {"daily_token_budget": 200_000, "requests_per_minute": 30, "max_upload_mb": 25, "max_documents": 500},
    Role.VIEWER: {"daily_token_budget": 50_000, "requests_per_minute": 20, "max_upload_mb": 0, "max_documents": 0},
}


def ensure_role_policies(**_signal_kwargs) -> None:
    for role, limits in DEFAULT_POLICIES.items():
        RolePolicy.objects.get_or_create(
            role=role,
            defaults={**limits, "allowed_models": [], "allowed_presets": [], "web_access": role != Role.VIEWER},
        )
    forget_role_policies()


# Used when a role has no policy row (e.g. one deleted by hand): the most restrictive sensible limits.
FALLBACK = RolePolicy(
    role=Role.VIEWER,
    allowed_models=[],
    allowed_presets=[],
    daily_token_budget=0,
    requests_per_minute=1,
    max_upload_mb=0,
    max_documents=0,
    web_access=False,
    answer_cache=False,
)
OVERRIDABLE = (
    "allowed_models",
    "allowed_presets",
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
    answer_cache: bool = True
    semantic_cache: bool = False
    allowed_presets: tuple[str, ...] = ()

    def allows_model(self, model: str) -> bool:
        return not self.allowed_models or model in self.allowed_models

    def allows_preset(self, slug: str) -> bool:
        return not self.allowed_presets or slug in self.allowed_presets

    def as_dict(self) -> dict:
        return {field.name: getattr(self, field.name) for field in fields(self)} | {
            "allowed_models": list(self.allowed_models),
            "allowed_presets": list(self.allowed_presets),
        }


# Role policies are four small rows read on every request: kept per process for a few seconds, so an admin's edit
# reaches every process within ROLE_POLICY_TTL without a query per request.
ROLE_POLICY_TTL = 5.0
_role_policies: dict[str, RolePolicy] = {}
_role_policies_loaded_at = 0.0


def role_policy(role: str) -> RolePolicy:
    global _role_policies, _role_policies_loaded_at
    if time.monotonic() - _role_policies_loaded_at > ROLE_POLICY_TTL:
        _role_policies = {policy.role: policy for policy in RolePolicy.objects.all()}
        _role_policies_loaded_at = time.monotonic()
    return _role_policies.get(role, FALLBACK)


def forget_role_policies() -> None:
    """Drop this process's copy (called when a policy is saved here, and by tests)."""
    global _role_policies_loaded_at
    _role_policies_loaded_at = 0.0


def _override_of(user: User) -> PolicyOverride | None:
    if "policy_override" in user._state.fields_cache:  # fetched with select_related("policy_override")
        return user._state.fields_cache["policy_override"]
    return PolicyOverride.objects.filter(user=user).first()


def policy_for(user: User) -> Policy:
    role_policy_row = role_policy(user.role)
    override = _override_of(user)
    values = {name: getattr(role_policy_row, name) for name in OVERRIDABLE}
    if override is not None:
        values |= {name: getattr(override, name) for name in OVERRIDABLE if getattr(override, name) is not None}
    return Policy(
        role=user.role,
        allowed_models=tuple(values["allowed_models"] or ()),
        allowed_presets=tuple(values["allowed_presets"] or ()),
        daily_token_budget=values["daily_token_budget"],
        requests_per_minute=values["requests_per_minute"],
        max_upload_bytes=values["max_upload_mb"] * MB,
        max_documents=values["max_documents"],
        web_access=values["web_access"],
        answer_cache=role_policy_row.answer_cache,
        semantic_cache=role_policy_row.answer_cache and role_policy_row.semantic_cache,
    )
