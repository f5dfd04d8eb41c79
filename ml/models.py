"""The model registry: registered models, their immutable versions, movable aliases, approved artifact types,
prediction counts and training jobs.

A version is never changed once registered: retraining adds the next one, and an alias (``production``,
``staging``…) names the version callers get. Moving an alias is a row update, read on every request, so it takes
effect in every process at once without a restart.
"""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

NAME_PATTERN = r"^[a-z][a-z0-9-]{1,63}$"
name_validator = RegexValidator(NAME_PATTERN, "2-64 lowercase letters, digits or '-', starting with a letter.")


def artifact_path(version: "ModelVersion", filename: str) -> str:
    return f"ml/{version.model.name}/v{version.number}-{version.sha256[:12]}.skops"


def training_csv_path(job: "TrainingJob", filename: str) -> str:
    return f"ml/training/{job.model.name}/{timezone.now():%Y%m%d-%H%M%S}.csv"


class RegisteredModel(models.Model):
    class Kind(models.TextChoices):
        REGRESSION = "regression", "Regression"
        CLASSIFICATION = "classification", "Classification"

    name = models.CharField(max_length=64, unique=True, validators=[name_validator])
    description = models.CharField(max_length=500, blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    builtin = models.BooleanField(default=False, help_text="Shipped with the service and trained from its data.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "registered model"

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    class InputFormat(models.TextChoices):
        RECORDS = "records", "Records: a list of {field: value} dicts (e.g. a DictVectorizer first)"
        ARRAY = "array", "Array: one row per input, columns in the schema's order"
        EMBEDDING = "embedding", "Embedding: the text field's vector from the embedding service"

    class Source(models.TextChoices):
        TRAINED = "trained", "Trained here"
        UPLOADED = "uploaded", "Uploaded"

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    artifact = models.FileField(upload_to=artifact_path, max_length=300)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField(default=0)
    # The library versions it was saved with: a different scikit-learn on this server refuses to load it.
    sklearn_version = models.CharField(max_length=40)
    skops_version = models.CharField(max_length=40)
    python_version = models.CharField(max_length=40, blank=True)
    numpy_version = models.CharField(max_length=40, blank=True)
    input_format = models.CharField(max_length=20, choices=InputFormat.choices)
    # [{"name", "type": number|integer|string, "required"?, "minimum"?, "maximum"?, "choices"?, "max_length"?}]
    input_schema = models.JSONField()
    # What a prediction is: {"name": "price", "unit": "EUR"} or {"name": "label", "labels": [...]}.
    output = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    # The types in the artifact that skops does not trust by itself; each must be an ApprovedType to load it.
    untrusted_types = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.TRAINED)
    training_rows = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "-number"]
        verbose_name = "model version"
        constraints = [models.UniqueConstraint(fields=["model", "number"], name="ml_version_unique_number")]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.number}"


class ModelAlias(models.Model):
    """A movable name for one version of a model: ``house-price@production``."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(max_length=64, validators=[name_validator])
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="aliases")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model", "name"]
        verbose_name = "model alias"
        verbose_name_plural = "model aliases"
        constraints = [models.UniqueConstraint(fields=["model", "name"], name="ml_alias_unique_name")]

    def __str__(self) -> str:
        return f"{self.model.name}@{self.name}"


class ApprovedType(models.Model):
    """A type an admin allows inside artifacts (beyond those skops trusts by itself), by its full dotted name.
    Revoking keeps the row (``approved`` off), so a type the project ships approved is not approved again by the
    next migrate."""

    name = models.CharField(max_length=300, unique=True)
    approved = models.BooleanField(default=True, help_text="Off: artifacts holding this type stop loading.")
    note = models.CharField(max_length=300, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "approved artifact type"

    def __str__(self) -> str:
        return self.name


class PredictionCount(models.Model):
    """Predictions per version and day (UTC): requests, and the rows they asked for."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="prediction_counts")
    day = models.DateField()
    requests = models.PositiveBigIntegerField(default=0)
    rows = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["version", "day"], name="ml_prediction_count_per_day")]

    def __str__(self) -> str:
        return f"{self.version_id} on {self.day}: {self.requests} requests"


class TrainingJob(models.Model):
    """One training run started from the admin: its state lives here, not in the queue, so nothing is lost."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="training_jobs")
    csv = models.FileField(upload_to=training_csv_path, max_length=300)
    alias = models.CharField(max_length=64, blank=True, validators=[name_validator])
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(max_length=1000, blank=True)
    log_tail = models.TextField(blank=True)
    version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "training job"

    def __str__(self) -> str:
        return f"{self.model.name} training #{self.pk} ({self.status})"
