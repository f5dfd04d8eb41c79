from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MODERATOR = "moderator", "Moderator"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class UserManager(DjangoUserManager):
    def create_superuser(self, username: str, email: str | None = None, password: str | None = None, **extra):
        # `createsuperuser` and friends make admins: the role, not the flag, is what the product checks.
        extra.setdefault("role", Role.ADMIN)
        return super().create_superuser(username, email, password, **extra)


def validate_name_list(value: object) -> None:
    """A JSON list of names (models, preset slugs): anything else would silently allow or forbid the wrong thing."""
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ValidationError('Enter a JSON list of names, e.g. ["general", "support"], or [] for all.')


class User(AbstractUser):
    objects = UserManager()

    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)
    suspended_at = models.DateTimeField(null=True, blank=True, editable=False)
    suspension_reason = models.CharField(max_length=300, blank=True, editable=False)

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None


class RolePolicy(models.Model):
    """Limits for everyone holding a role; later features enforce them through ``accounts.policies.policy_for``."""

    role = models.CharField(max_length=20, choices=Role.choices, unique=True)
    allowed_models = models.JSONField(
        default=list, blank=True, help_text="Model names this role may use. Empty: every configured model."
    )
    allowed_presets = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_name_list],
        help_text='Slugs of the presets this role may use (e.g. ["general", "support"]). Empty: every preset the '
        "user can see.",
    )
    daily_token_budget = models.PositiveIntegerField(help_text="Prompt + completion tokens per user per day (UTC).")
    requests_per_minute = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    max_upload_mb = models.PositiveIntegerField(help_text="Largest single upload, in MB. 0 forbids uploads.")
    max_documents = models.PositiveIntegerField(help_text="Documents a user may keep.")
    web_access = models.BooleanField(help_text="May URLs in prompts be fetched for this role?")
    answer_cache = models.BooleanField(
        default=True,
        db_default=True,
        help_text="Serve a repeated deterministic request (temperature 0, a seed, or a client asking for it) from the "
        "cache of this user's own earlier answers.",
    )
    semantic_cache = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Also serve a single-turn question that means the same as an earlier one of this user's (same model, "
        "instructions, parameters and documents), when it passes a strict similarity threshold and a check that "
        "numbers, negations and names agree.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "role policy"
        verbose_name_plural = "role policies"
        ordering = ["role"]

    def __str__(self) -> str:
        return f"Policy for {self.get_role_display()}"


class PolicyOverride(models.Model):
    """Per-user exceptions to the role policy; an empty field means "as the role says"."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="policy_override")
    allowed_models = models.JSONField(null=True, blank=True)
    allowed_presets = models.JSONField(null=True, blank=True, validators=[validate_name_list])
    daily_token_budget = models.PositiveIntegerField(null=True, blank=True)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    max_upload_mb = models.PositiveIntegerField(null=True, blank=True)
    max_documents = models.PositiveIntegerField(null=True, blank=True)
    web_access = models.BooleanField(null=True, blank=True)

    class Meta:
        verbose_name = "policy override"

    def __str__(self) -> str:
        return f"Overrides for {self.user}"


class ApiKeyScope(models.TextChoices):
    CHAT = "chat", "Chat: send messages and completions"
    DOCUMENTS = "documents", "Documents: upload, change and delete"
    READ = "read", "Read: list and fetch"
    ML = "ml", "ML: list the ML models and predict with them"


class ApiKey(models.Model):
    """A bearer key. Only a hash of the secret is stored; the prefix identifies the key without revealing it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=20, unique=True, editable=False)
    hashed_key = models.CharField(max_length=200, editable=False)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired else "active"


class AuditAction(models.TextChoices):
    ROLE_CHANGED = "role_changed", "Role changed"
    USER_SUSPENDED = "user_suspended", "User suspended"
    USER_UNSUSPENDED = "user_unsuspended", "User reinstated"
    KEY_CREATED = "key_created", "API key created"
    KEY_REVOKED = "key_revoked", "API key revoked"
    POLICY_CHANGED = "policy_changed", "Role policy changed"
    OVERRIDE_CHANGED = "override_changed", "Policy override changed"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    MESSAGE_HIDDEN = "message_hidden", "Message hidden"
    FLAG_DISMISSED = "flag_dismissed", "Flag dismissed"
    SSO_SIGNED_IN = "sso_signed_in", "Signed in with SSO"
    SSO_SIGNED_UP = "sso_signed_up", "Account created through SSO"
    SSO_LINKED = "sso_linked", "SSO identity linked to an account"
    SSO_REFUSED = "sso_refused", "SSO sign-in refused"


# What moderators may read in the audit log: the actions of their own trade.
MODERATION_ACTIONS = (
    AuditAction.USER_SUSPENDED,
    AuditAction.USER_UNSUSPENDED,
    AuditAction.MESSAGE_HIDDEN,
    AuditAction.FLAG_DISMISSED,
)


SSO_ACTIONS = (
    AuditAction.SSO_SIGNED_IN,
    AuditAction.SSO_SIGNED_UP,
    AuditAction.SSO_LINKED,
    AuditAction.SSO_REFUSED,
)


class AuditEvent(models.Model):
    """An append-only record of a security-relevant action (a database trigger refuses updates and deletes).

    Users are referenced without a database constraint and by label as well, so deleting a user neither fails nor
    rewrites history.
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=40, choices=AuditAction.choices, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    target_label = models.CharField(max_length=300)
    details = models.JSONField(default=dict)
    ip_address = models.GenericIPAddressField(null=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label}: {self.get_action_display()} {self.target_label}"
