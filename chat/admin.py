from django.contrib import admin

from accounts.admin_access import RoleGatedReadOnly
from accounts.permissions import can_manage_users
from chat.models import Conversation, DailyUsage, Message


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


@admin.register(DailyUsage)
class DailyUsageAdmin(AdminsOnly, admin.ModelAdmin):
    list_display = ("day", "user", "model", "prompt_tokens", "completion_tokens", "requests")
    list_filter = ("day", "model")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    date_hierarchy = "day"
