import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from pgvector.django import HnswIndex, VectorField


class Document(models.Model):
    class Kind(models.TextChoices):
        PDF = "pdf", "PDF"
        DOCX = "docx", "Word (DOCX)"
        TXT = "txt", "Plain text"
        MD = "md", "Markdown"
        HTML = "html", "HTML"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        EXTRACTING = "extracting", "Extracting text"
        CHUNKING = "chunking", "Chunking"
        EMBEDDING = "embedding", "Embedding"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class Visibility(models.TextChoices):
        PRIVATE = "private", "Only me"
        EVERYONE = "everyone", "Everyone"
        GROUP = "group", "A group"

    WORKING_STATUSES = (Status.EXTRACTING, Status.CHUNKING, Status.EMBEDDING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=200)
    filename = models.CharField(max_length=200, help_text="The uploaded name, sanitised; storage uses the id.")
    file = models.FileField(upload_to="documents/", max_length=300)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    shared_group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    # The job's state lives here, not in the queue: a worker that dies leaves a lease that runs out.
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    pages = models.PositiveIntegerField(null=True, blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    leased_by = models.CharField(max_length=100, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # The same file is ingested once per owner.
            models.UniqueConstraint(fields=["owner", "sha256"], name="document_unique_file_per_owner"),
        ]
        indexes = [models.Index(fields=["owner", "-created_at"]), models.Index(fields=["visibility", "status"])]

    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    page = models.PositiveIntegerField(null=True, blank=True)
    heading_path = models.CharField(max_length=500, blank=True)
    token_count = models.PositiveIntegerField()
    embedding = VectorField(dimensions=settings.EMBEDDING_DIMENSIONS)
    search_vector = models.GeneratedField(
        expression=SearchVector("heading_path", "text", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["document", "ordinal"]
        constraints = [
            # Re-running an ingestion replaces chunks; it can never duplicate them.
            models.UniqueConstraint(fields=["document", "ordinal"], name="chunk_unique_ordinal"),
        ]
        indexes = [
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(fields=["search_vector"], name="chunk_search_gin"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id} #{self.ordinal}"


class WebPage(models.Model):
    """A fetched page's extracted text, cached for WEB_CACHE_SECONDS so the same link is not fetched every turn."""

    url = models.URLField(max_length=2000, unique=True)
    final_url = models.URLField(max_length=2000)
    title = models.CharField(max_length=300)
    text = models.TextField()
    content_type = models.CharField(max_length=100)
    truncated = models.BooleanField(default=False)
    fetched_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.url
