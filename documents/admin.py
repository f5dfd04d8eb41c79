from django.contrib import admin

from accounts.admin_access import RoleGatedReadOnly
from accounts.permissions import can_manage_users
from documents.models import Chunk, Document


@admin.register(Document)
class DocumentAdmin(RoleGatedReadOnly, admin.ModelAdmin):
    delete_if = staticmethod(can_manage_users)  # an admin may remove a document; uploads alone create them
    list_display = ("title", "owner", "kind", "status", "progress", "chunk_count", "visibility", "created_at")
    list_filter = ("status", "kind", "visibility", "created_at")
    search_fields = ("title", "filename", "owner__username", "sha256")
    list_select_related = ("owner",)
    readonly_fields = [field.name for field in Document._meta.fields]


@admin.register(Chunk)
class ChunkAdmin(RoleGatedReadOnly, admin.ModelAdmin):
    list_display = ("document", "ordinal", "page", "heading_path", "token_count")
    search_fields = ("document__title", "text")
    list_select_related = ("document",)
    fields = ("document", "ordinal", "page", "heading_path", "token_count", "text")
    readonly_fields = fields
