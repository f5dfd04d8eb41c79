from django.contrib import admin

from batches.models import Batch, BatchFile, BatchLine


@admin.register(BatchFile)
class BatchFileAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "purpose", "filename", "bytes", "lines", "created_at")
    list_filter = ("purpose",)
    search_fields = ("id", "filename", "owner__username")
    readonly_fields = ("id", "owner", "purpose", "filename", "bytes", "lines", "file", "created_at", "expires_at")


class BatchLineInline(admin.TabularInline):
    model = BatchLine
    fields = ("number", "custom_id", "state", "status_code", "attempts", "worker", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    max_num = 0


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "model", "status", "total", "completed", "failed", "waiting_reason", "created_at")
    list_filter = ("status",)
    search_fields = ("id", "owner__username", "requested_file_id")
    readonly_fields = [field.name for field in Batch._meta.fields]
    inlines = [BatchLineInline]

    def has_add_permission(self, request) -> bool:
        return False
