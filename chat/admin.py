from django.contrib import admin
from django.http import HttpRequest

from accounts.permissions import can_manage_users
from chat.models import Conversation, DailyUsage, Message


class AdminsOnly:
    """Conversations are private: only admins (not moderators) may read them here."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_manage_users(request.user)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return can_manage_users(request.user)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return can_manage_users(request.user)


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
