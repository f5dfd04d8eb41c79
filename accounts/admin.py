"""The admin site for accounts. Every change that matters goes through accounts.services, which audits it."""

from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from accounts import selectors, services
from accounts.admin_access import RoleGatedReadOnly
from accounts.http import client_ip
from accounts.models import MODERATION_ACTIONS, SSO_ACTIONS, ApiKey, AuditEvent, PolicyOverride, RolePolicy, User
from accounts.permissions import (
    can_manage_policies,
    can_manage_users,
    can_moderate,
    can_read_audit_log,
    can_suspend_users,
)
from accounts.policies import OVERRIDABLE
from core.errors import ServiceError

admin.site.site_header = "genaisite administration"
admin.site.site_title = "genaisite admin"


def _snapshot(obj, names: tuple[str, ...]) -> dict:
    return {name: getattr(obj, name) for name in names}


POLICY_FIELDS = OVERRIDABLE
ROLE_ONLY_FIELDS = ("answer_cache", "semantic_cache")  # per role, not per user


class PolicyOverrideInline(admin.StackedInline):
    model = PolicyOverride
    can_delete = True
    extra = 0
    max_num = 1
    fields = POLICY_FIELDS
    verbose_name_plural = "Policy overrides (empty = as the role's policy says)"


class SocialAccountInline(admin.TabularInline):
    """The single sign-on identities linked to the user: read-only, because they are made by signing in."""

    model = SocialAccount
    fields = ("provider", "uid", "last_login", "date_joined")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "single sign-on identity"
    verbose_name_plural = "Single sign-on identities (provider and subject)"

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return can_suspend_users(request.user)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class SuspendedFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [("active", "Active"), ("suspended", "Suspended"), ("inactive", "Deactivated")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "active":
            return queryset.filter(is_active=True, suspended_at__isnull=True)
        if self.value() == "suspended":
            return queryset.filter(suspended_at__isnull=False)
        if self.value() == "inactive":
            return queryset.filter(is_active=False)
        return queryset


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "role", "status", "last_login", "date_joined")
    list_filter = ("role", SuspendedFilter, "date_joined")
    search_fields = ("username", "email", "first_name", "last_name")
    ordering = ("username",)
    actions = ["suspend_users", "unsuspend_users"]
    inlines = [PolicyOverrideInline, SocialAccountInline]
    readonly_fields = ("suspended_at", "suspension_reason", "last_login", "date_joined", "sso_events")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Profile", {"fields": ("first_name", "last_name", "email")}),
        ("Access", {"fields": ("role", "is_active", "suspended_at", "suspension_reason")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"fields": ("username", "email", "role", "password1", "password2")}),)

    def get_fieldsets(self, request: HttpRequest, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and can_read_audit_log(request.user):
            fieldsets = (*fieldsets, ("Single sign-on", {"fields": ("sso_events",)}))
        return fieldsets

    @admin.display(description="recent single sign-on events")
    def sso_events(self, user: User) -> str:
        events = selectors.audit_event_list(target_user=user).filter(action__in=SSO_ACTIONS)[:10]
        if not events:
            return "None"
        rows = format_html_join(
            "",
            "<li>{} — {} ({})</li>",
            (
                (f"{event.created_at:%Y-%m-%d %H:%M}", event.get_action_display(), event.details.get("provider", ""))
                for event in events
            ),
        )
        return format_html("<ul>{}</ul>", rows)

    @admin.display(description="status")
    def status(self, user: User) -> str:
        if user.is_suspended:
            return "suspended"
        return "active" if user.is_active else "deactivated"

    # Moderators may see users and suspend them; only admins change them.
    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return can_suspend_users(request.user)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return can_manage_users(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return can_manage_users(request.user)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return can_manage_users(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_suspend_users(request.user)

    def get_actions(self, request: HttpRequest) -> dict:
        return super().get_actions(request) if can_suspend_users(request.user) else {}

    def save_model(self, request: HttpRequest, obj: User, form, change: bool) -> None:
        new_role = obj.role
        if change and "role" in form.changed_data:
            obj.role = User.objects.get(pk=obj.pk).role  # the service compares, changes and audits
        super().save_model(request, obj, form, change)
        services.user_role_change(actor=request.user, user=obj, role=new_role, ip=client_ip(request))

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not PolicyOverride:
            return super().save_formset(request, form, formset, change)
        for override in formset.save(commit=False):
            before = _snapshot(PolicyOverride.objects.filter(pk=override.pk).first() or PolicyOverride(), POLICY_FIELDS)
            services.policy_override_save(actor=request.user, override=override, before=before, ip=client_ip(request))
        for override in formset.deleted_objects:
            override.delete()
        return None

    @admin.action(description="Suspend selected users (signs them out and stops their keys)")
    def suspend_users(self, request: HttpRequest, queryset: QuerySet) -> None:
        suspended = 0
        for user in queryset:
            try:
                services.user_suspend(
                    actor=request.user, user=user, reason="Suspended from the admin", ip=client_ip(request)
                )
                suspended += 1
            except ServiceError as exc:
                self.message_user(request, f"{user.username}: {exc.message}", messages.ERROR)
        self.message_user(request, f"{suspended} user(s) suspended.", messages.SUCCESS)

    @admin.action(description="Reinstate selected users")
    def unsuspend_users(self, request: HttpRequest, queryset: QuerySet) -> None:
        for user in queryset:
            services.user_unsuspend(actor=request.user, user=user, ip=client_ip(request))
        self.message_user(request, f"{queryset.count()} user(s) reinstated.", messages.SUCCESS)


@admin.register(RolePolicy)
class RolePolicyAdmin(admin.ModelAdmin):
    list_display = ("role", "daily_token_budget", "requests_per_minute", "max_upload_mb", "max_documents", "web_access")
    fields = ("role", *POLICY_FIELDS, *ROLE_ONLY_FIELDS, "updated_at")
    readonly_fields = ("role", "updated_at")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_manage_policies(request.user)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return can_manage_policies(request.user)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return can_manage_policies(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one policy per role, created by migration

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: RolePolicy, form, change: bool) -> None:
        before = _snapshot(RolePolicy.objects.get(pk=obj.pk), (*POLICY_FIELDS, *ROLE_ONLY_FIELDS))
        services.role_policy_save(actor=request.user, policy=obj, before=before, ip=client_ip(request))


@admin.register(ApiKey)
class ApiKeyAdmin(RoleGatedReadOnly, admin.ModelAdmin):
    list_display = ("prefix", "name", "user", "scopes", "status", "created_at", "expires_at", "last_used_at")
    list_filter = ("created_at", "revoked_at")
    search_fields = ("prefix", "name", "user__username")
    list_select_related = ("user",)
    # The hash is deliberately absent: nothing about the secret is shown, even to admins.
    fields = ("prefix", "name", "user", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke_keys"]

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        return actions if can_manage_users(request.user) else {}

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet) -> None:
        for api_key in queryset.select_related("user"):
            services.api_key_revoke(api_key=api_key, actor=request.user, ip=client_ip(request))
        self.message_user(request, f"{queryset.count()} key(s) revoked.", messages.SUCCESS)


@admin.register(AuditEvent)
class AuditEventAdmin(RoleGatedReadOnly, admin.ModelAdmin):
    list_display = ("created_at", "actor_label", "action", "target_label", "ip_address")
    list_filter = ("action", "created_at")
    search_fields = ("actor_label", "target_label")
    date_hierarchy = "created_at"
    fields = ("created_at", "actor_label", "action", "target_label", "details", "ip_address")
    readonly_fields = fields

    view_if = staticmethod(lambda user: can_read_audit_log(user) or can_moderate(user))

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Admins read the whole log; moderators read the moderation actions, theirs and their peers'."""
        events = super().get_queryset(request)
        if can_read_audit_log(request.user):
            return events
        return events.filter(action__in=MODERATION_ACTIONS)


# Providers are configured from the environment only (docs/sso.md) and their tokens are not kept: allauth's admin pages
# for them would only mislead. Linked identities are made by signing in, so they are listed, never edited.
admin.site.unregister(SocialApp)
admin.site.unregister(SocialToken)
admin.site.unregister(SocialAccount)


@admin.register(SocialAccount)
class SocialAccountAdmin(RoleGatedReadOnly, admin.ModelAdmin):
    list_display = ("user", "provider", "uid", "last_login", "date_joined")
    list_filter = ("provider",)
    search_fields = ("uid", "user__username", "user__email")
    list_select_related = ("user",)
    fields = ("user", "provider", "uid", "last_login", "date_joined", "extra_data")
    readonly_fields = fields
