"""Reads for the registry: models with their versions and aliases, the version a reference names, approved types.

``resolve`` reads the alias from the database on every request (one indexed query), so moving an alias takes effect
on the next request in every process, without a restart or a cache to expire.
"""

import time
from dataclasses import dataclass

from django.db.models import Prefetch, Sum

from core.errors import ServiceError
from ml.models import ApprovedType, ModelAlias, ModelVersion, PredictionCount, RegisteredModel

DEFAULT_ALIAS = "production"
APPROVED_TYPES_TTL = 5.0  # seconds: a revoked type stops loading within this, in every process


@dataclass(frozen=True)
class Resolved:
    model: RegisteredModel
    version: ModelVersion
    alias: str | None


def split_ref(ref: str) -> tuple[str, str | None]:
    """``house-price@staging`` → ("house-price", "staging"); no alias → ("house-price", None)."""
    name, _, alias = ref.partition("@")
    return name, alias or None


def model_list() -> list[RegisteredModel]:
    versions = ModelVersion.objects.select_related("created_by").order_by("-number")
    aliases = ModelAlias.objects.select_related("version").order_by("name")
    return list(
        RegisteredModel.objects.order_by("name").prefetch_related(
            Prefetch("versions", queryset=versions), Prefetch("aliases", queryset=aliases)
        )
    )


def model_detail(name: str) -> RegisteredModel:
    found = next((model for model in model_list() if model.name == name), None)
    if found is None:
        raise ServiceError("model_not_found", f"No model {name!r}.", status=404)
    return found


def _not_loaded(model: RegisteredModel) -> ServiceError:
    return ServiceError(
        "model_not_loaded",
        f"The model {model.name!r} has no version yet (its first training may still be running); try again shortly.",
        status=503,
        retry_after=10,
    )


def resolve(ref: str) -> Resolved:
    """The version ``ref`` names: ``name@alias``; ``name`` alone is its production alias, or else its newest. The
    usual case (the alias exists) is one query."""
    name, alias = split_ref(ref)
    wanted = alias or DEFAULT_ALIAS
    aliases = ModelAlias.objects.select_related("version", "model").order_by()  # no ordering join: one row
    row = aliases.filter(model__name=name, name=wanted).first()
    if row is not None:
        row.version.model = row.model
        return Resolved(row.model, row.version, wanted)
    model = RegisteredModel.objects.filter(name=name).first()
    if model is None:
        raise ServiceError("model_not_found", f"No model {name!r}.", status=404)
    if alias is not None:
        raise ServiceError("alias_not_found", f"The model {name!r} has no alias {alias!r}.", status=404)
    newest = ModelVersion.objects.filter(model=model).order_by("-number").first()
    if newest is None:
        raise _not_loaded(model)
    return Resolved(model, newest, None)


_approved: frozenset[str] = frozenset()
_approved_at = 0.0


def approved_types() -> frozenset[str]:
    """The approved type names, kept per process for a few seconds (they are read on every prediction)."""
    global _approved, _approved_at
    if time.monotonic() - _approved_at > APPROVED_TYPES_TTL:
        _approved = frozenset(ApprovedType.objects.filter(approved=True).values_list("name", flat=True))
        _approved_at = time.monotonic()
    return _approved


def forget_approved_types() -> None:
    global _approved_at
    _approved_at = 0.0


def prediction_totals(version_ids: list[int]) -> dict[int, dict[str, int]]:
    """Requests and rows predicted by each version, all days together."""
    totals = (
        PredictionCount.objects.filter(version_id__in=version_ids)
        .values("version_id")
        .annotate(requests=Sum("requests"), rows=Sum("rows"))
    )
    return {row["version_id"]: {"requests": row["requests"], "rows": row["rows"]} for row in totals}


def preload_targets(alias: str = DEFAULT_ALIAS) -> list[ModelVersion]:
    """The versions a web process loads at start: those the ``production`` alias names."""
    return [row.version for row in ModelAlias.objects.select_related("version", "version__model").filter(name=alias)]
