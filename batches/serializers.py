"""A batch as people and the REST API see it: one shape for /api/v1/batches/ and the page's live events."""

from rest_framework import serializers

from batches.models import Batch


class BatchSerializer(serializers.ModelSerializer):
    title = serializers.SerializerMethodField(help_text="The uploaded file's name (or the batch id).")
    done = serializers.SerializerMethodField(help_text="Lines finished so far: completed + failed.")
    progress = serializers.SerializerMethodField(help_text="Percent of lines finished, 0-100.")
    finished = serializers.SerializerMethodField(help_text="True once the status is final.")
    waiting_reason = serializers.CharField(
        help_text="Why the batch is not moving (e.g. the daily token budget is spent until the reset); empty if it is."
    )

    class Meta:
        model = Batch
        fields = [
            "id",
            "title",
            "status",
            "endpoint",
            "model",
            "total",
            "completed",
            "failed",
            "done",
            "progress",
            "finished",
            "waiting_reason",
            "errors",
            "prompt_tokens",
            "completion_tokens",
            "output_file_id",
            "error_file_id",
            "metadata",
            "created_at",
            "in_progress_at",
            "expires_at",
            "completed_at",
            "cancelled_at",
            "expired_at",
            "failed_at",
        ]
        read_only_fields = fields

    def get_title(self, batch: Batch) -> str:
        if batch.title:
            return batch.title
        return batch.input_file.filename if batch.input_file_id and batch.input_file else batch.id

    def get_done(self, batch: Batch) -> int:
        return batch.completed + batch.failed

    def get_progress(self, batch: Batch) -> int:
        if batch.status in (Batch.Status.COMPLETED, Batch.Status.CANCELLED, Batch.Status.EXPIRED):
            return 100
        return int(100 * (batch.completed + batch.failed) / batch.total) if batch.total else 0

    def get_finished(self, batch: Batch) -> bool:
        return batch.status in Batch.FINAL_STATUSES
