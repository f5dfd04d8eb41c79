import re

from django import forms
from django.contrib import admin, messages

from accounts.admin_access import RoleGatedReadOnly
from accounts.http import client_ip
from accounts.permissions import can_manage_policies, can_manage_users, can_moderate, can_suspend_users
from chat import answer_cache, moderation
from chat.models import (
    AnswerCacheEntry,
    BlockedTopic,
    Conversation,
    DailyUsage,
    GuardrailEvent,
    LabelSet,
    Message,
    MessageRating,
    ModerationFlag,
    TokenQuota,
)
from chat.safety import screening
from core.errors import ServiceError


class AdminsOnly(RoleGatedReadOnly):
    """Conversations are private: only admins (not moderators) may read or delete them here."""

    delete_if = staticmethod(can_manage_users)


class MessageInline(AdminsOnly, admin.TabularInline):
    model = Message
    fields = ("created_at", "role", "status", "content", "completion_tokens", "error")
    readonly_fields = fields
    extra = 0
    ordering = ("created_at",)


@admin.register(Conversation)
class ConversationAdmin(AdminsOnly, admin.ModelAdmin):
    list_display = ("title", "owner", "model", "source", "updated_at", "archived")
    list_filter = ("source", "archived", "model", "updated_at")
    search_fields = ("title", "owner__username")
    list_select_related = ("owner",)
    readonly_fields = ("owner", "title", "model", "source", "archived", "created_at", "updated_at")
    inlines = [MessageInline]


@admin.register(LabelSet)
class LabelSetAdmin(AdminsOnly, admin.ModelAdmin):
    """Users' saved label sets (classification): admins may read and delete them; users make them via the API."""

    list_display = ("name", "owner", "created_at")
    search_fields = ("name", "owner__username")
    list_select_related = ("owner",)
    readonly_fields = ("owner", "name", "labels", "created_at")


@admin.register(AnswerCacheEntry)
class AnswerCacheEntryAdmin(AdminsOnly, admin.ModelAdmin):
    """What the answer cache holds, per user; deleting entries (one, a selection, or all found) purges them."""

    list_display = ("created_at", "user", "model", "hits", "completion_tokens", "last_hit_at", "excerpt")
    list_filter = ("model", "created_at")
    search_fields = ("user__username", "content")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    fields = (
        "user",
        "model",
        "key",
        "content",
        "finish_reason",
        "prompt_tokens",
        "completion_tokens",
        "document_ids",
        "origin",
        "hits",
        "created_at",
        "last_hit_at",
    )
    readonly_fields = fields

    @admin.display(description="answer")
    def excerpt(self, entry: AnswerCacheEntry) -> str:
        return entry.content[:80]

    def changelist_view(self, request, extra_context=None):
        try:
            totals = answer_cache.counters()
        except Exception:  # the broker is down: the list still shows
            totals = None
        if totals is not None:
            hits = totals.get("hits_exact", 0) + totals.get("hits_semantic", 0)
            looked = hits + totals.get("misses", 0)
            rate = f"{hits / looked:.0%}" if looked else "–"
            self.message_user(
                request,
                f"Hits {hits} (exact {totals.get('hits_exact', 0)}, semantic {totals.get('hits_semantic', 0)}), "
                f"misses {totals.get('misses', 0)}, hit rate {rate}; model tokens saved: "
                f"{totals.get('saved_tokens', 0)}.",
                messages.INFO,
            )
        return super().changelist_view(request, extra_context)


@admin.register(DailyUsage)
class DailyUsageAdmin(AdminsOnly, admin.ModelAdmin):
    list_display = ("day", "user", "model", "prompt_tokens", "completion_tokens", "requests")
    list_filter = ("day", "model")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    date_hierarchy = "day"


class ModeratorsView(RoleGatedReadOnly):
    view_if = staticmethod(can_moderate)


def _act(modeladmin, request, flags, action, done: str) -> None:
    """Run a moderation service on each selected flag; report successes and refusals on the page."""
    count = 0
    for flag in flags.select_related("message", "author"):
        try:
            action(flag=flag, actor=request.user, ip=client_ip(request))
        except ServiceError as exc:
            modeladmin.message_user(request, f"Flag {flag.pk}: {exc.message}", messages.ERROR)
        else:
            count += 1
    if count:
        modeladmin.message_user(request, f"{done}: {count} flag{'s' if count != 1 else ''}.", messages.SUCCESS)


@admin.register(ModerationFlag)
class ModerationFlagAdmin(ModeratorsView, admin.ModelAdmin):
    list_display = ("created_at", "status", "source", "reason", "author", "reporter", "message_state")
    list_filter = ("status", "source", "created_at")
    search_fields = ("reason", "excerpt", "author__username", "reporter__username")
    list_select_related = ("author", "reporter", "message")
    readonly_fields = (
        "created_at", "source", "status", "reason", "excerpt", "message_text", "author", "reporter",
        "guardrail_event", "resolved_by", "resolved_at", "resolution",
    )  # fmt: skip
    fields = readonly_fields
    actions = ["dismiss", "hide_message", "suspend_author"]
    ordering = ("status", "-created_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("message__conversation")

    def has_moderate_permission(self, request) -> bool:
        return can_moderate(request.user)

    def has_suspend_permission(self, request) -> bool:
        return can_suspend_users(request.user)

    @admin.display(description="message")
    def message_state(self, flag: ModerationFlag) -> str:
        if flag.message is None:
            return "deleted"
        return "hidden" if flag.message.hidden_at else f"{flag.message.role}, shown"

    @admin.display(description="full message")
    def message_text(self, flag: ModerationFlag) -> str:
        return flag.message.content if flag.message else "(deleted with its conversation)"

    @admin.action(description="Dismiss: nothing to act on", permissions=["moderate"])
    def dismiss(self, request, queryset) -> None:
        _act(self, request, queryset, moderation.flag_dismiss, "Dismissed")

    @admin.action(description="Hide the flagged message", permissions=["moderate"])
    def hide_message(self, request, queryset) -> None:
        _act(self, request, queryset, moderation.message_hide, "Message hidden")

    @admin.action(description="Suspend the author", permissions=["suspend"])
    def suspend_author(self, request, queryset) -> None:
        _act(self, request, queryset, moderation.author_suspend, "Author suspended")


@admin.register(GuardrailEvent)
class GuardrailEventAdmin(ModeratorsView, admin.ModelAdmin):
    list_display = ("created_at", "stage", "guardrail", "category", "action", "user", "reason")
    list_filter = ("stage", "guardrail", "action", "created_at")
    search_fields = ("reason", "category", "user__username")
    list_select_related = ("user",)
    date_hierarchy = "created_at"


@admin.register(MessageRating)
class MessageRatingAdmin(ModeratorsView, admin.ModelAdmin):
    list_display = ("created_at", "value", "user", "reason")
    list_filter = ("value", "created_at")
    search_fields = ("user__username", "reason")
    list_select_related = ("user",)


@admin.register(TokenQuota)
class TokenQuotaAdmin(AdminsOnly, admin.ModelAdmin):
    list_display = ("day", "user", "used", "reserved")
    list_filter = ("day",)
    search_fields = ("user__username",)
    list_select_related = ("user",)
    date_hierarchy = "day"


class BlockedTopicForm(forms.ModelForm):
    class Meta:
        model = BlockedTopic
        fields = ("name", "enabled", "patterns", "message")

    def clean_patterns(self) -> str:
        patterns = self.cleaned_data["patterns"]
        for line in patterns.splitlines():
            if line.strip().startswith("re:"):
                try:
                    re.compile(line.strip()[3:].strip())
                except re.error as exc:
                    raise forms.ValidationError(f"{line.strip()!r} is not a valid regular expression: {exc}.") from exc
        return patterns


@admin.register(BlockedTopic)
class BlockedTopicAdmin(admin.ModelAdmin):
    """Admins keep the list; every web process picks up a change within a few seconds."""

    form = BlockedTopicForm
    list_display = ("name", "enabled", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("name", "patterns")

    def has_module_permission(self, request) -> bool:
        return can_manage_policies(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return can_manage_policies(request.user)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        screening.forget_blocked_topics()
