"""Serving: load a version once per process, keep it, and predict with it. This process never trains.

Loaded versions are kept per process, keyed by (version id, sha256): a version never changes, so an entry never goes
stale; which version an alias names is read per request (``ml.selectors.resolve``). The production versions are
loaded when a web process starts (``preload``), so the first prediction does not pay for the load. Each type an
artifact needed approval for is checked against the approved set on every use, so a revoked type stops a version
that is already loaded too.
"""

import logging
import threading
from dataclasses import dataclass

import numpy as np
from django.db import connection

from core.errors import ServiceError
from documents.embeddings import embed_texts
from ml import artifacts
from ml.models import ModelVersion
from ml.schema import Field, parse_schema
from ml.selectors import approved_types, preload_targets

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    version_id: int
    sha256: str
    estimator: object
    fields: list[Field]
    input_format: str
    output: dict
    untrusted_types: tuple[str, ...]


_cache: dict[tuple[int, str], Loaded] = {}
_locks: dict[tuple[int, str], threading.Lock] = {}
_locks_guard = threading.Lock()


def _unavailable(version: ModelVersion, reason: str) -> ServiceError:
    return ServiceError("model_not_loaded", f"{version} is not loaded: {reason}", status=503)


def _read(version: ModelVersion) -> bytes:
    if not version.artifact:
        raise _unavailable(version, "it has no artifact file.")
    try:
        with version.artifact.open("rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError):
        raise _unavailable(version, "its artifact file is missing from storage.") from None


def _load(version: ModelVersion) -> Loaded:
    estimator = artifacts.load(
        _read(version), sha256=version.sha256, sklearn_version=version.sklearn_version, approved=approved_types()
    )
    return Loaded(
        version_id=version.pk,
        sha256=version.sha256,
        estimator=estimator,
        fields=parse_schema(version.input_schema),
        input_format=version.input_format,
        output=version.output or {},
        untrusted_types=tuple(version.untrusted_types or ()),
    )


def loaded(version: ModelVersion) -> Loaded:
    """``version`` ready to predict: from this process's cache, or loaded now (once, however many ask at once)."""
    key = (version.pk, version.sha256)
    entry = _cache.get(key)
    if entry is None:
        with _locks_guard:
            lock = _locks.setdefault(key, threading.Lock())
        with lock:
            entry = _cache.get(key)
            if entry is None:
                entry = _cache[key] = _load(version)
    if unapproved := [name for name in entry.untrusted_types if name not in approved_types()]:
        _cache.pop(key, None)
        raise ServiceError(
            "unapproved_types", f"{version} holds types no longer approved: {', '.join(unapproved)}.", status=503
        )
    return entry


def is_loaded(version: ModelVersion) -> bool:
    return (version.pk, version.sha256) in _cache


def forget() -> None:
    """Empty this process's cache (tests; a process that must drop what it holds)."""
    _cache.clear()


def _features(entry: Loaded, rows: list[dict]) -> object:
    if entry.input_format == ModelVersion.InputFormat.RECORDS:
        return rows
    if entry.input_format == ModelVersion.InputFormat.ARRAY:
        return np.array([[row[field.name] for field in entry.fields] for row in rows], dtype=object)
    text_field = next(field.name for field in entry.fields if field.type == "string")
    return embed_texts([row[text_field] for row in rows])


def _as_number(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def run(entry: Loaded, rows: list[dict]) -> list[dict]:
    """One prediction per row: ``{<output name>: value}``, and ``probabilities`` per label for a classifier."""
    features = _features(entry, rows)
    name = entry.output.get("name", "prediction")
    estimator = entry.estimator
    if hasattr(estimator, "predict_proba"):
        probabilities = estimator.predict_proba(features)
        labels = [str(_as_number(label)) for label in estimator.classes_]
        return [
            {name: labels[int(np.argmax(row))], "probabilities": dict(zip(labels, map(float, row), strict=True))}
            for row in probabilities
        ]
    return [{name: _as_number(value)} for value in estimator.predict(features)]


def preload() -> int:
    """Load every production version now; a version that cannot load is logged and left for its first request to
    report. Returns how many are loaded."""
    count = 0
    try:
        for version in preload_targets():
            try:
                loaded(version)
                count += 1
            except ServiceError as exc:
                logger.warning("ml: %s not preloaded: %s", version, exc.message)
    finally:
        connection.close()  # this thread's own: it ends here
    logger.info("ml: %d production version(s) preloaded", count)
    return count


def preload_in_background() -> threading.Thread:
    """Preload without holding up the server: requests that come first load what they need themselves."""
    thread = threading.Thread(target=preload, name="ml-preload", daemon=True)
    thread.start()
    return thread
