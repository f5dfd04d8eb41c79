"""Writes for the registry (register a version, upload one, move an alias, approve a type, training jobs) and the
prediction gate every entry point passes (``predict``: permission, scope, rate limit, schema, load, count)."""

import logging
from datetime import date

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from accounts import ratelimits
from accounts.models import ApiKey, ApiKeyScope, User
from accounts.permissions import can_manage_ml_models, can_predict, require_scope
from core.errors import ServiceError
from ml import artifacts, selectors, serving
from ml.builtins import builtin
from ml.models import (
    ApprovedType,
    ModelAlias,
    ModelVersion,
    PredictionCount,
    RegisteredModel,
    TrainingJob,
    name_validator,
)
from ml.schema import parse_schema, validate_inputs

logger = logging.getLogger(__name__)

LOG_TAIL_CHARS = 4000


def _valid_name(name: str, param: str) -> str:
    try:
        name_validator(name)
    except Exception:  # Django's ValidationError: re-raised as the one error type services raise
        raise ServiceError("invalid_name", f"{param}: {name_validator.message}", param=param) from None
    return name


# --- versions and aliases ------------------------------------------------------------------------------------


def version_register(
    *,
    model: RegisteredModel,
    data: bytes,
    input_format: str,
    input_schema: list[dict],
    library_versions: dict[str, str],
    output: dict | None = None,
    metrics: dict | None = None,
    training_rows: int | None = None,
    source: str = ModelVersion.Source.TRAINED,
    created_by: User | None = None,
    alias: str = "",
) -> ModelVersion:
    """The model's next version, from a skops artifact held to the same checks as any upload; ``alias`` moves
    to it."""
    parse_schema(input_schema)
    if input_format not in ModelVersion.InputFormat.values:
        choices = ", ".join(ModelVersion.InputFormat.values)
        raise ServiceError("invalid_input_format", f"input_format must be one of {choices}.", param="input_format")
    inspected = artifacts.inspect(data)
    artifacts.check_versions(library_versions.get("sklearn_version", ""))
    with transaction.atomic():
        RegisteredModel.objects.select_for_update().get(pk=model.pk)  # one number per version, however many at once
        last = ModelVersion.objects.filter(model=model).aggregate(last=Max("number"))["last"] or 0
        version = ModelVersion(
            model=model,
            number=last + 1,
            sha256=inspected.sha256,
            size_bytes=inspected.size_bytes,
            input_format=input_format,
            input_schema=input_schema,
            output=output or {},
            metrics=metrics or {},
            untrusted_types=inspected.untrusted_types,
            source=source,
            training_rows=training_rows,
            created_by=created_by,
            **{key: library_versions.get(key, "") for key in artifacts.library_versions()},
        )
        version.artifact.save("artifact.skops", ContentFile(data), save=False)
        version.save()
        if alias:
            alias_set(model=model, name=alias, version=version, actor=created_by)
    return version


def version_upload(
    *,
    model: RegisteredModel,
    upload: UploadedFile,
    input_format: str,
    input_schema: list[dict],
    output: dict | None,
    sklearn_version: str,
    actor: User,
    alias: str = "",
) -> ModelVersion:
    """An artifact made elsewhere. A pickle or joblib file is refused from its first bytes, never opened."""
    if upload.size is not None and upload.size > artifacts.MAX_ARTIFACT_BYTES:
        raise artifacts.ArtifactRefused(f"An artifact may be at most {artifacts.MAX_ARTIFACT_BYTES} bytes.")
    data = upload.read()
    versions = artifacts.library_versions() | {"sklearn_version": sklearn_version}
    return version_register(
        model=model,
        data=data,
        input_format=input_format,
        input_schema=input_schema,
        library_versions=versions,
        output=output,
        source=ModelVersion.Source.UPLOADED,
        created_by=actor,
        alias=alias,
    )


def alias_set(*, model: RegisteredModel, name: str, version: ModelVersion, actor: User | None) -> ModelAlias:
    """Point ``model@name`` at ``version``: the next request in every process gets it."""
    _valid_name(name, "alias")
    if version.model_id != model.pk:
        raise ServiceError("invalid_version", f"{version} is not a version of {model}.", param="version")
    row, _ = ModelAlias.objects.update_or_create(
        model=model, name=name, defaults={"version": version, "updated_by": actor}
    )
    return row


# --- approved types ------------------------------------------------------------------------------------------


def type_approve(*, name: str, actor: User, note: str = "") -> ApprovedType:
    name = name.strip()
    if not name or " " in name:
        raise ServiceError("invalid_type", "A type's full dotted name, e.g. sklearn._loss.link.IdentityLink.")
    row, _ = ApprovedType.objects.update_or_create(
        name=name, defaults={"approved": True, "approved_by": actor, "note": note}
    )
    selectors.forget_approved_types()
    return row


def type_revoke(*, row: ApprovedType) -> None:
    row.approved = False
    row.save(update_fields=["approved"])
    selectors.forget_approved_types()


# --- predictions ---------------------------------------------------------------------------------------------


def _rate_limit(user: User, api_key: ApiKey | None) -> None:
    who = ratelimits.principal(user, api_key.pk if api_key else None)
    decision = ratelimits.sliding_window(f"ml:{who}", settings.ML_REQUESTS_PER_MINUTE)
    if not decision.allowed:
        raise ratelimits.refusal(decision, "predictions")


def predictions_count(*, version: ModelVersion, rows: int, day: date | None = None) -> None:
    """One request of ``rows`` more for ``version`` today: an atomic increment, however many processes count. Its
    commit does not wait for the disk (a crash may lose the last instant's counts, never a prediction's answer):
    waiting was a third of a single-row prediction's time (bench/ml.py)."""
    day = day or timezone.now().date()
    increment = {"requests": F("requests") + 1, "rows": F("rows") + rows}
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        if PredictionCount.objects.filter(version=version, day=day).update(**increment):
            return
        try:
            with transaction.atomic():
                PredictionCount.objects.create(version=version, day=day, requests=1, rows=rows)
        except IntegrityError:  # another process made today's row first
            PredictionCount.objects.filter(version=version, day=day).update(**increment)


def predict(*, user: User, api_key: ApiKey | None, ref: str, inputs: object) -> dict:
    """Predictions of the version ``ref`` names (``name`` or ``name@alias``) for one row or a list of rows."""
    if not can_predict(user):
        raise ServiceError("forbidden", "Your account may not use the ML models.", status=403)
    require_scope(api_key, ApiKeyScope.ML)
    _rate_limit(user, api_key)
    resolved = selectors.resolve(ref)
    rows, _ = validate_inputs(parse_schema(resolved.version.input_schema), inputs, max_rows=settings.ML_MAX_ROWS)
    entry = serving.loaded(resolved.version)
    try:
        predictions = serving.run(entry, rows)
    except (ValueError, TypeError) as exc:  # an uploaded estimator whose schema does not fit it
        logger.warning("ml: %s could not predict: %s", resolved.version, exc)
        raise ServiceError(
            "prediction_failed", f"The model could not predict these inputs: {exc}", status=422
        ) from None
    predictions_count(version=resolved.version, rows=len(rows))
    return {
        "model": resolved.model.name,
        "version": resolved.version.number,
        "alias": resolved.alias,
        "predictions": predictions,
    }


# --- training jobs -------------------------------------------------------------------------------------------


def training_job_create(*, model: RegisteredModel, csv: UploadedFile, alias: str, actor: User) -> TrainingJob:
    """A queued retraining of a built-in model from an uploaded labelled CSV (the caller starts it)."""
    if not can_manage_ml_models(actor):
        raise ServiceError("forbidden", "Only admins retrain models.", status=403)
    if builtin(model.name) is None:
        raise ServiceError("no_trainer", f"{model.name} has no training recipe here; upload versions instead.")
    if csv.size is not None and csv.size > settings.ML_TRAINING_CSV_MAX_BYTES:
        raise ServiceError("csv_too_large", f"The CSV may be at most {settings.ML_TRAINING_CSV_MAX_BYTES} bytes.")
    if alias:
        _valid_name(alias, "alias")
    job = TrainingJob(model=model, alias=alias, requested_by=actor)
    job.csv.save("training.csv", csv, save=False)
    job.save()
    return job


def training_job_started(job_id: int) -> TrainingJob | None:
    """Mark a queued job running; None when it is not queued (done already, or taken by another worker)."""
    if not TrainingJob.objects.filter(pk=job_id, status=TrainingJob.Status.QUEUED).update(
        status=TrainingJob.Status.RUNNING, started_at=timezone.now()
    ):
        return None
    return TrainingJob.objects.select_related("model").get(pk=job_id)


def training_job_finished(*, job_id: int, succeeded: bool, log: str, reason: str = "") -> None:
    status = TrainingJob.Status.SUCCEEDED if succeeded else TrainingJob.Status.FAILED
    TrainingJob.objects.filter(pk=job_id).update(
        status=status, reason=reason[:1000], log_tail=log[-LOG_TAIL_CHARS:], finished_at=timezone.now()
    )


def training_job_version(*, job_id: int, version: ModelVersion) -> None:
    TrainingJob.objects.filter(pk=job_id).update(version=version)
