"""Checks an upload must pass before it is stored. Each refusal says what to fix."""

import os
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings

from core.errors import ServiceError

EXTENSIONS = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
}
# What a download is served as: by the kind we recognised, not guessed again from the name (LICENSE, notes.text).
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "txt": "text/plain",
    "md": "text/markdown",
    "html": "text/html",
}
SNIFF_BYTES = 8192
_HTML_MARKERS = re.compile(rb"<!doctype html|<html|<head|<body|<p[\s>]|<div[\s>]|<h[1-6][\s>]", re.IGNORECASE)


@dataclass(frozen=True)
class CheckedUpload:
    kind: str
    filename: str


def refuse(code: str, message: str, status: int = 400) -> ServiceError:
    return ServiceError(code, message, status=status)


def sanitize_filename(name: str) -> str:
    """A display name safe to show and to send back in Content-Disposition; storage never uses it."""
    name = os.path.basename(name.replace("\\", "/"))
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # control and format characters
    name = re.sub(r"[\"<>:|?*]", "_", name).strip(" .")
    stem, ext = os.path.splitext(name)
    return (stem[:150] or "document") + ext[:12].lower()


def _allowed() -> str:
    return ", ".join(sorted({e for e in EXTENSIONS if e != ".text"}))


def kind_for(filename: str) -> str:
    extension = os.path.splitext(filename)[1].lower()
    if extension not in EXTENSIONS:
        raise refuse(
            "unsupported_type", f"Files of type {extension or '(none)'} are not supported. Upload {_allowed()}."
        )
    return EXTENSIONS[extension]


def _has_no_real_extension(filename: str) -> bool:
    """ "LICENSE", "notes", "MPL-2.0": names whose "extension" is absent or a version number."""
    extension = os.path.splitext(filename)[1]
    return not extension or extension[1:].isdigit()


def looks_like_text(head: bytes) -> bool:
    """UTF-8 without NUL bytes, nearly all printable: a plain-text file, whatever its name."""
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # only a character cut at the end of the sniffed bytes is forgiven
            return False
        text = head[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\n\r\t\f" for ch in text)
    return printable >= 0.97 * len(text)


def check_upload(upload: BinaryIO, *, filename: str, size: int, max_bytes: int) -> CheckedUpload:
    clean_name = sanitize_filename(filename)
    if size == 0:
        raise refuse("empty_file", "The file is empty.")
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    if os.path.splitext(clean_name)[1].lower() not in EXTENSIONS and _has_no_real_extension(clean_name):
        # No extension to go by: recognised by its content, as text, or refused like any unknown type.
        if not looks_like_text(head):
            raise refuse(
                "unsupported_type",
                f"“{clean_name}” has no extension and is not plain text (UTF-8 without NUL bytes), so its type is "
                f"not supported. Add its extension ({_allowed()}) or upload a text file.",
            )
        kind = "txt"
    else:
        kind = kind_for(clean_name)
    if size > max_bytes:
        raise refuse(
            "file_too_large",
            f"The file is {size / 1_048_576:.1f} MB; your limit is {max_bytes / 1_048_576:.0f} MB.",
            status=413,
        )
    _check_magic(kind, head, clean_name)
    if kind == "docx":
        _check_docx_archive(upload)
    return CheckedUpload(kind=kind, filename=clean_name)


def _check_magic(kind: str, head: bytes, filename: str) -> None:
    mismatch = refuse(
        "type_mismatch",
        f"“{filename}” does not look like a {kind.upper()} file: its contents do not match its extension.",
    )
    if kind == "pdf":
        if not head.lstrip(b"\x00\t\n\r ")[:5] == b"%PDF-":
            raise mismatch
    elif kind == "docx":
        if not head.startswith(b"PK\x03\x04"):
            raise mismatch
    else:
        if b"\x00" in head or head.startswith((b"%PDF-", b"PK\x03\x04", b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
            raise mismatch
        if kind == "html" and not _HTML_MARKERS.search(head):
            raise mismatch


def _check_docx_archive(upload: BinaryIO) -> None:
    """Read only the zip's central directory: decide on sizes and counts before inflating a single byte."""
    try:
        archive = zipfile.ZipFile(upload)
    except zipfile.BadZipFile:
        raise refuse("corrupt_file", "The DOCX file is damaged (not a readable zip archive).") from None
    with archive:
        entries = archive.infolist()
        names = {entry.filename for entry in entries}
        if "word/document.xml" not in names:
            raise refuse("type_mismatch", "The file is a zip archive but not a Word document.")
        if len(entries) > settings.DOCX_MAX_ENTRIES:
            raise refuse(
                "suspicious_archive",
                f"The DOCX file holds {len(entries)} parts; at most {settings.DOCX_MAX_ENTRIES} are accepted.",
            )
        total = sum(entry.file_size for entry in entries)
        if total > settings.DOCX_MAX_UNCOMPRESSED_BYTES:
            raise refuse(
                "suspicious_archive",
                "The DOCX file would inflate to "
                f"{total / 1_048_576:.0f} MB; at most {settings.DOCX_MAX_UNCOMPRESSED_BYTES // 1_048_576} MB.",
            )
        for entry in entries:
            ratio = entry.file_size / max(entry.compress_size, 1)
            if entry.file_size > 1_000_000 and ratio > settings.DOCX_MAX_COMPRESSION_RATIO:
                raise refuse(
                    "suspicious_archive",
                    f"The DOCX part {entry.filename} is compressed {ratio:.0f}:1, "
                    "which only zip bombs do. Save the document again and re-upload it.",
                )
    upload.seek(0)
