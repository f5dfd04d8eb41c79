import uuid

from django.conf import settings
from django.db import models


class Conversation(models.Model):
    class Source(models.TextChoices):
        CHAT = "chat", "Chat"
        API = "api", "REST API"
        OPENAI = "openai", "OpenAI-compatible API"

    class DocumentsMode(models.TextChoices):
        ALL = "all", "All documents I may read"
        SELECTED = "selected", "Only the chosen documents"
        NONE = "none", "No documents"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=100)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.CHAT)
    archived = models.BooleanField(default=False)
    # Which documents ground the answers: all the user may read (the default), a chosen set, or none.
    documents_mode = models.CharField(max_length=10, choices=DocumentsMode.choices, default=DocumentsMode.ALL)
    documents = models.ManyToManyField("documents.Document", blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"
        SYSTEM = "system", "System"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        STREAMING = "streaming", "Streaming"
        COMPLETE = "complete", "Complete"
        STOPPED = "stopped", "Stopped"
        FAILED = "failed", "Failed"

    FINAL_STATUSES = (Status.COMPLETE, Status.STOPPED, Status.FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.COMPLETE)
    model = models.CharField(max_length=100, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    # True when the backend did not report usage and the counts are our own estimate.
    usage_estimated = models.BooleanField(default=False)
    time_to_first_token_ms = models.FloatField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    finish_reason = models.CharField(max_length=20, blank=True)
    error = models.TextField(blank=True)
    sources = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["conversation", "created_at"]),
            # Generations interrupted by a crash are found (and closed) by status at start-up.
            models.Index(fields=["status"], condition=models.Q(status__in=["pending", "streaming"]), name="msg_open"),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"


class DailyUsage(models.Model):
    """Tokens used per user, per UTC day, per model: the ledger quotas and the usage page read."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="daily_usage")
    day = models.DateField()
    model = models.CharField(max_length=100)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day", "model"], name="usage_one_row_per_day_model")]
        ordering = ["-day", "model"]
        verbose_name_plural = "daily usage"

    def __str__(self) -> str:
        return f"{self.user} {self.day} {self.model}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
