import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from pgvector.django import VectorField


class Conversation(models.Model):
    class Source(models.TextChoices):
        CHAT = "chat", "Chat"
        API = "api", "REST API"
        OPENAI = "openai", "OpenAI-compatible API"
        TASK = "task", "Task endpoint"
        BATCH = "batch", "Batch job"

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
    # The preset revision the conversation started with: later turns keep it, even after the preset is edited. A
    # deleted preset leaves its conversations without one (they go on with the default instructions).
    preset_revision = models.ForeignKey(
        "presets.PresetRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The last message of the branch being shown and continued: messages form a tree (regenerating an answer or
    # editing a question adds a sibling), and the history sent to the model is the path from the root to this leaf.
    # Null for a conversation without messages (or whose messages predate branching, see chat.selectors).
    current_leaf = models.ForeignKey("Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
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
        TOOL = "tool", "Tool result"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        STREAMING = "streaming", "Streaming"
        COMPLETE = "complete", "Complete"
        STOPPED = "stopped", "Stopped"
        FAILED = "failed", "Failed"

    FINAL_STATUSES = (Status.COMPLETE, Status.STOPPED, Status.FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    # The message this one follows: a question follows an answer (null for the first question), an answer its
    # question. Messages sharing a parent are versions of one another (regenerated answers, edited questions).
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
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
    # Tokens held against the author's daily quota while this answer is written; 0 once settled. An answer whose
    # process died keeps its hold until the reaper closes it and gives the tokens back.
    reserved_tokens = models.PositiveIntegerField(default=0, db_default=0)
    # The web process writing this answer while it is open (core.liveness): a dead writer's answer is closed at once.
    writer = models.CharField(max_length=32, blank=True, default="", db_default="")
    # Served from the answer cache ("exact"), not written by the model; the entry it came from, while it exists.
    cached = models.CharField(max_length=10, blank=True, default="", db_default="")
    cache_entry = models.ForeignKey(
        "AnswerCacheEntry", null=True, blank=True, on_delete=models.SET_NULL, related_name="served"
    )
    # An assistant message's tool calls (OpenAI's shape); a tool result's call id.
    tool_calls = models.JSONField(default=list, blank=True)
    tool_call_id = models.CharField(max_length=100, blank=True, default="")
    # Set by a moderator: the text stays for the record but is no longer shown or sent to the model.
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_reason = models.CharField(max_length=300, blank=True, db_default="")
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


class TokenQuota(models.Model):
    """One user's tokens on one UTC day: spent, and held by answers still being written. Checked and changed in
    single SQL statements (chat.quotas), so concurrent requests can never spend past the budget together."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="token_quotas")
    day = models.DateField()
    used = models.BigIntegerField(default=0)
    reserved = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="quota_one_row_per_user_day")]
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.user} {self.day}: {self.used} used, {self.reserved} reserved"


class GuardrailEvent(models.Model):
    """A guardrail decision: what was checked, what it found, what was done, and why."""

    class Stage(models.TextChoices):
        INPUT = "input", "Prompt"
        OUTPUT = "output", "Answer"

    class Action(models.TextChoices):
        BLOCKED = "blocked", "Refused before the model"
        REDACTED = "redacted", "Redacted"
        CUT = "cut", "Answer cut"
        FLAGGED = "flagged", "Let through, flagged"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    stage = models.CharField(max_length=10, choices=Stage.choices)
    guardrail = models.CharField(max_length=30)  # size, injection, blocked_topic, pii, canary
    category = models.CharField(max_length=60, blank=True)
    action = models.CharField(max_length=10, choices=Action.choices)
    reason = models.CharField(max_length=300)
    excerpt = models.TextField(blank=True, help_text="The text concerned, shortened and with PII redacted.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_stage_display()} {self.guardrail}: {self.get_action_display()}"


class ModerationFlag(models.Model):
    """An item in the moderators' queue: a prompt or answer a guardrail stopped, or an answer a user reported."""

    class Source(models.TextChoices):
        GUARDRAIL = "guardrail", "Guardrail"
        REPORT = "report", "User report"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DISMISSED = "dismissed", "Dismissed"
        ACTIONED = "actioned", "Actioned"

    source = models.CharField(max_length=10, choices=Source.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    reason = models.CharField(max_length=300)
    excerpt = models.TextField(blank=True)
    # Kept when the conversation is deleted: the flag and its excerpt remain for the moderators.
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="flags")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    guardrail_event = models.ForeignKey(GuardrailEvent, null=True, blank=True, on_delete=models.SET_NULL)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_source_display()}: {self.reason}"


class MessageRating(models.Model):
    """A user's thumbs up or down on an answer; a thumbs down with a reason also reports it to the moderators."""

    UP, DOWN = 1, -1

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="ratings")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    value = models.SmallIntegerField(choices=[(UP, "Thumbs up"), (DOWN, "Thumbs down")])
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="rating_one_per_user_message")]

    def __str__(self) -> str:
        return f"{self.get_value_display()} by {self.user} on {self.message_id}"


class BlockedTopic(models.Model):
    """A topic prompts may not raise. Admins list phrases (one per line, matched as whole words, any case) or
    regular expressions (lines starting with ``re:``)."""

    name = models.CharField(max_length=100, unique=True)
    patterns = models.TextField(help_text="One phrase per line; a line starting with 're:' is a regular expression.")
    message = models.CharField(
        max_length=300, blank=True, help_text="What the user is told; a generic refusal when empty."
    )
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AnswerCacheEntry(models.Model):
    """A complete answer kept for the exact same request (chat.answer_cache): same person, model, final prompt
    (system prompt, history, retrieved source text), sampling parameters and output limit."""

    id = models.BigAutoField(primary_key=True)
    # The partition: an entry is only ever served to the person whose request made it.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)  # sha256 of the canonical upstream request
    model = models.CharField(max_length=100)
    content = models.TextField()
    finish_reason = models.CharField(max_length=20, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)  # what each hit saves
    # The documents its sources came from: changing, deleting or re-sharing one of them removes the entry.
    document_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    # For the semantic cache (single-turn questions only): everything of the request but the question, hashed (who,
    # model, system prompt, parameters, the documents in scope with their versions), the question and its embedding.
    partition = models.CharField(max_length=64, blank=True, default="", db_default="")
    question = models.TextField(blank=True, default="", db_default="")
    question_embedding = VectorField(dimensions=settings.EMBEDDING_DIMENSIONS, null=True, blank=True)
    sources = models.JSONField(default=list, blank=True)  # the answer's citations, shown again with a semantic hit
    origin = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    hits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_hit_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "answer cache entries"
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="answer_cache_user_key")]
        indexes = [
            GinIndex(fields=["document_ids"], name="answer_cache_documents"),
            models.Index(fields=["partition"], condition=~models.Q(partition=""), name="answer_cache_partition"),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.model}: {self.content[:60]}"


class LabelSet(models.Model):
    """A named list of labels a user saved for ``POST /api/v1/tasks/classify`` (``"label_set": name``)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="label_sets")
    name = models.CharField(max_length=100)
    labels = ArrayField(models.CharField(max_length=100))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="label_set_unique_name_per_owner")]

    def __str__(self) -> str:
        return self.name
