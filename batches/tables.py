"""Batches for people: a table of prompts in (CSV or JSONL), a table of answers out, joined on the ids.

In: a CSV with a ``prompt`` column (optional ``id`` and ``system``; other columns are ignored), or JSONL whose lines
are either ``{"prompt": …, "id": …, "system": …}`` or OpenAI batch requests (``custom_id``, ``body``, …) as they
are. Each row becomes one OpenAI batch request line for ``/v1/chat/completions`` with the model picked, so the batch
then runs exactly like one made through the SDK. Problems a person can fix (no ``prompt`` column, an empty prompt,
a repeated id) are refused at once, naming the rows; the rest is checked by the batch's own validation.

Out: one row per input line, in input order, whatever became of it (answered, refused, cancelled, expired, still to
run), with the id the person gave, so the file joins back onto theirs.
"""

import csv
import io
import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.files import File

from batches.models import Batch, BatchLine
from batches.validation import CHAT_COMPLETIONS
from core.errors import ServiceError

MAX_REPORTED = 10  # problems named in one refusal: enough to fix a file, short enough to read
RESULT_COLUMNS = ("id", "status", "prompt", "answer", "finish_reason", "error", "prompt_tokens", "completion_tokens")
# A cell starting with one of these is a formula to Excel and LibreOffice (CSV injection): a leading quote keeps it
# text. Model output is untrusted; the JSONL download keeps every answer exactly.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Defaults:
    """What every simple row gets unless it says otherwise."""

    model: str
    system: str = ""
    max_tokens: int | None = None
    temperature: float | None = None


class _Problems:
    def __init__(self) -> None:
        self.found: list[str] = []
        self.seen_ids: dict[str, int] = {}

    def add(self, where: str, message: str) -> None:
        if len(self.found) < MAX_REPORTED:
            self.found.append(f"{where}: {message}")

    def check_id(self, where: str, row: int, custom_id: str) -> None:
        if custom_id in self.seen_ids:
            self.add(where, f"the id {custom_id!r} is also used on row {self.seen_ids[custom_id]}.")
        else:
            self.seen_ids[custom_id] = row

    def raise_any(self) -> None:
        if self.found:
            raise ServiceError("invalid_file", "The file cannot be run: " + " ".join(self.found), param="file")


def _body(defaults: Defaults, prompt: str, system: str) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    body: dict = {"model": defaults.model, "messages": [*messages, {"role": "user", "content": prompt}]}
    if defaults.max_tokens is not None:
        body["max_tokens"] = defaults.max_tokens
    if defaults.temperature is not None:
        body["temperature"] = defaults.temperature
    return body


def _request(custom_id: str, body: dict) -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": CHAT_COMPLETIONS, "body": body}


def _simple_row(defaults: Defaults, problems: _Problems, where: str, number: int, row: dict) -> dict | None:
    prompt, custom_id = row.get("prompt"), row.get("id")
    system = row.get("system") or defaults.system
    if not isinstance(prompt, str) or not prompt.strip():
        problems.add(where, "the prompt is empty.")
        return None
    if custom_id is None or (isinstance(custom_id, str) and not custom_id.strip()):
        custom_id = str(number)
    custom_id = str(custom_id).strip()
    if not isinstance(system, str):
        problems.add(where, "'system' must be text.")
        return None
    problems.check_id(where, number, custom_id)
    return _request(custom_id, _body(defaults, prompt, system.strip()))


def _csv_rows(text: Iterable[str], defaults: Defaults, problems: _Problems) -> Iterator[dict]:
    reader = csv.DictReader(text)
    columns = {name.strip().lower(): name for name in reader.fieldnames or () if name}
    if "prompt" not in columns:
        raise ServiceError("invalid_file", "The CSV needs a header row with a 'prompt' column.", param="file")
    wanted = {key: columns[key] for key in ("prompt", "id", "system") if key in columns}
    for number, row in enumerate(reader, start=1):
        values = {key: (row.get(column) or "") for key, column in wanted.items()}
        if not any(value.strip() for value in values.values()):
            continue  # a blank row (spreadsheets leave them at the end)
        request = _simple_row(defaults, problems, f"row {number}", number, values)
        if request is not None:
            yield request


def _jsonl_rows(text: Iterable[str], defaults: Defaults, problems: _Problems) -> Iterator[dict]:
    for number, raw in enumerate(text, start=1):
        if not raw.strip():
            continue
        where = f"line {number}"
        try:
            row = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            problems.add(where, "not valid JSON.")
            continue
        if isinstance(row, dict) and "body" in row and "custom_id" in row:
            # Already an OpenAI batch request: it runs as written (the batch validation checks it).
            if isinstance(row["body"], dict):
                row["body"].setdefault("model", defaults.model)
            problems.check_id(where, number, str(row["custom_id"]))
            yield row
        elif isinstance(row, dict) and "prompt" in row:
            request = _simple_row(defaults, problems, where, number, row)
            if request is not None:
                yield request
        else:
            problems.add(where, "needs a 'prompt' (or an OpenAI batch request with 'custom_id' and 'body').")


def _is_csv(name: str, content_type: str | None) -> bool:
    return name.lower().endswith(".csv") or (content_type or "").split(";")[0].strip() == "text/csv"


def requests_file(upload: File, defaults: Defaults) -> File:
    """The upload as an OpenAI batch input file (JSONL, one request per row), ready for ``files.file_create``."""
    if upload.size > settings.BATCH_FILE_MAX_BYTES:
        limit = settings.BATCH_FILE_MAX_BYTES // 1_048_576
        raise ServiceError("file_too_large", f"The file is larger than {limit} MB.", status=413, param="file")
    name = upload.name or "batch"
    text = io.TextIOWrapper(upload.file, encoding="utf-8-sig", newline="")
    problems = _Problems()
    read_rows = _csv_rows if _is_csv(name, getattr(upload, "content_type", None)) else _jsonl_rows
    rows = read_rows(text, defaults, problems)
    # Returned open: the caller stores it, and it is removed when garbage-collected or closed.
    converted = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    try:
        for request in rows:
            converted.write((json.dumps(request) + "\n").encode())
    except UnicodeDecodeError:
        raise ServiceError("invalid_file", "The file is not UTF-8 text.", param="file") from None
    except csv.Error as exc:
        raise ServiceError("invalid_file", f"The CSV cannot be read: {exc}.", param="file") from None
    finally:
        text.detach()  # the upload stays open for Django to clean up
    problems.raise_any()
    converted.seek(0)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return File(converted, name=f"{stem}.jsonl")


def _prompt(body: dict) -> str:
    messages = body.get("messages") or []
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # content parts: the text ones, in order
                return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
            return content if isinstance(content, str) else ""
    return ""


def _answer(line: BatchLine) -> tuple[str, str]:
    choices = (line.response or {}).get("choices") or [{}]
    message = choices[0].get("message") or {}
    return message.get("content") or "", choices[0].get("finish_reason") or ""


def _error(line: BatchLine) -> str:
    if line.error:
        return line.error.get("message", "")
    if line.state == BatchLine.State.FAILED:
        return ((line.response or {}).get("error") or {}).get("message", "")
    return ""


def result_rows(batch: Batch) -> Iterator[dict]:
    """Every line of the batch, in input order, as a row of RESULT_COLUMNS."""
    for line in batch.lines.order_by("number").iterator(chunk_size=1000):
        answer, finish_reason = _answer(line) if line.state == BatchLine.State.SUCCEEDED else ("", "")
        usage = (line.response or {}).get("usage") or {}
        yield {
            "id": line.custom_id,
            "status": line.state,
            "prompt": _prompt(line.body),
            "answer": answer,
            "finish_reason": finish_reason,
            "error": _error(line),
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"),
        }


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def results_csv(batch: Batch) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(RESULT_COLUMNS)
    for row in result_rows(batch):
        writer.writerow([_cell(row[column]) for column in RESULT_COLUMNS])
    return out.getvalue()


def results_jsonl(batch: Batch) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in result_rows(batch))
