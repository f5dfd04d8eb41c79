"""Safe artifacts: model files are skops archives, checked before anything in them is read as an object.

A pickle (or joblib's pickles, compressed or not) runs code when it is opened, so an upload is judged by its bytes
alone: pickle's protocol marker, the magic numbers of the compressors joblib uses, or anything that is not a zip
holding skops' ``schema.json`` is refused unopened. A skops archive names every type it holds in that schema;
``skops.io.get_untrusted_types`` reads them without building any object, and an archive loads only when each type
skops does not trust by itself is one an admin approved (``ApprovedType``). The scikit-learn it was saved with must
be this server's: estimators pickled across versions can load and then predict wrongly.
"""

import hashlib
import importlib.abc
import io
import json
import platform
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy
import sklearn

from core.errors import ServiceError


class _TorchRefused(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"{name} is kept out of this import", name=name)


@contextmanager
def _torch_kept_out() -> Iterator[None]:
    """While skops lists the types it trusts it walks every scikit-learn module, and one of them (the array-API shim
    for torch) imports torch: hundreds of MB and seconds in each web process, which never uses it (embeddings come
    from the embedding service). The walk skips a module that fails to import, so torch is refused for the length of
    this import (by a finder, not a None in ``sys.modules``, which array-API helpers would trip on); afterwards it
    imports as usual."""
    finder = _TorchRefused()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


with _torch_kept_out():
    import skops
    import skops.io

MAX_ARTIFACT_BYTES = 256 * 1024 * 1024
MAX_ENTRIES = 20_000
MAX_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024

# First bytes of what joblib writes (its pickles go through these compressors) and of pickles themselves.
_COMPRESSED_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
    b"\x5d\x00\x00": "lzma",
    b"\x04\x22\x4d\x18": "lz4",
    b"\x78\x01": "zlib",
    b"\x78\x5e": "zlib",
    b"\x78\x9c": "zlib",
    b"\x78\xda": "zlib",
}
_PICKLE_PROTOCOLS = range(2, 6)


class ArtifactRefused(ServiceError):
    def __init__(self, message: str, *, code: str = "artifact_refused", status: int = 400) -> None:
        super().__init__(code, message, status=status, param="artifact")


@dataclass(frozen=True)
class Inspected:
    sha256: str
    size_bytes: int
    skops_protocol: int
    untrusted_types: list[str]


def library_versions() -> dict[str, str]:
    """What this process would save an artifact with (recorded on each version)."""
    return {
        "sklearn_version": sklearn.__version__,
        "skops_version": skops.__version__,
        "numpy_version": numpy.__version__,
        "python_version": platform.python_version(),
    }


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _looks_like_pickle(data: bytes) -> str | None:
    if data[:1] == b"\x80" and len(data) > 1 and data[1] in _PICKLE_PROTOCOLS:
        return f"a pickle (protocol {data[1]})"
    for magic, name in _COMPRESSED_MAGIC.items():
        if data.startswith(magic):
            return f"{name}-compressed data (as joblib writes its pickles)"
    return None


def _skops_schema(archive: zipfile.ZipFile) -> dict:
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES or sum(entry.file_size for entry in entries) > MAX_UNCOMPRESSED_BYTES:
        raise ArtifactRefused("The archive would unpack to too many files or bytes.")
    if "schema.json" not in archive.namelist():
        raise ArtifactRefused("This zip archive is not a skops file: it has no schema.json.")
    try:
        schema = json.loads(archive.read("schema.json"))
    except (ValueError, UnicodeDecodeError):
        raise ArtifactRefused("The skops schema.json is not valid JSON.") from None
    if not isinstance(schema, dict) or not isinstance(schema.get("protocol"), int):
        raise ArtifactRefused("The skops schema.json has no protocol: not a skops file.")
    return schema


def inspect(data: bytes) -> Inspected:
    """What an artifact holds, read from its bytes and its schema alone: nothing in it is unpickled or built."""
    if len(data) > MAX_ARTIFACT_BYTES:
        raise ArtifactRefused(f"An artifact may be at most {MAX_ARTIFACT_BYTES // (1024 * 1024)} MB.")
    if (what := _looks_like_pickle(data)) is not None:
        raise ArtifactRefused(
            f"This file is {what}, which runs code when it is opened: it was not opened. Save the model with "
            "skops.io.dump instead.",
            code="pickle_refused",
        )
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ArtifactRefused("Not a skops file (a zip archive made by skops.io.dump); it was not opened.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = _skops_schema(archive)
        untrusted = skops.io.get_untrusted_types(data=data)
    except (zipfile.BadZipFile, KeyError, TypeError, ValueError) as exc:
        raise ArtifactRefused(f"The skops file could not be read: {exc}") from None
    return Inspected(sha256_of(data), len(data), schema["protocol"], sorted(untrusted))


def dump(estimator: object) -> bytes:
    return skops.io.dumps(estimator, compression=zipfile.ZIP_DEFLATED)  # a tenth of the size for tree ensembles


def check_versions(sklearn_version: str) -> None:
    if sklearn_version != sklearn.__version__:
        raise ArtifactRefused(
            f"This model was trained with scikit-learn {sklearn_version}, this server has {sklearn.__version__}; "
            "retrain it here (or install the same scikit-learn).",
            code="sklearn_version_mismatch",
            status=503,
        )


def load(data: bytes, *, sha256: str, sklearn_version: str, approved: set[str]) -> object:
    """The estimator in ``data``, after every check: the bytes are the registered ones, the scikit-learn matches,
    and each type skops would not trust by itself is approved. Refusals answer 503: the version cannot serve."""
    if sha256_of(data) != sha256:
        raise ArtifactRefused(
            "The artifact file does not match the sha256 it was registered with; it was not loaded.",
            code="artifact_corrupt",
            status=503,
        )
    check_versions(sklearn_version)
    try:
        untrusted = inspect(data).untrusted_types
    except ArtifactRefused as exc:
        exc.status = 503
        raise
    if unapproved := [name for name in untrusted if name not in approved]:
        raise ArtifactRefused(
            f"The artifact holds types no admin approved: {', '.join(unapproved)}. Approve them in the admin "
            "(Approved artifact types) if you trust them; until then it is not loaded.",
            code="unapproved_types",
            status=503,
        )
    return skops.io.loads(data, trusted=untrusted)
