from django.contrib import admin
from django.http import HttpRequest

from accounts.permissions import can_manage_users
from documents.models import Chunk, Document


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "kind", "status", "progress", "chunk_count", "visibility", "created_at")
    list_filter = ("status", "kind", "visibility", "created_at")
    search_fields = ("title", "filename", "owner__username", "sha256")
    list_select_related = ("owner",)
    readonly_fields = [field.name for field in Document._meta.fields]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_manage_users(request.user)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return can_manage_users(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # documents arrive through upload, which validates them

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return can_manage_users(request.user)


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ("document", "ordinal", "page", "heading_path", "token_count")
    search_fields = ("document__title", "text")
    list_select_related = ("document",)
    fields = ("document", "ordinal", "page", "heading_path", "token_count", "text")
    readonly_fields = fields

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_manage_users(request.user)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return can_manage_users(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
