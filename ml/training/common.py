"""What every recipe shares: reading a CSV into typed rows, the held-out split, the result to register."""

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ServiceError

TEST_FRACTION = 0.2
SEED = 0
MAX_ROWS = 1_000_000


@dataclass
class Trained:
    estimator: object
    input_format: str
    input_schema: list[dict]
    output: dict
    metrics: dict
    training_rows: int
    notes: list[str] = field(default_factory=list)


def _refused(message: str) -> ServiceError:
    return ServiceError("invalid_csv", message, param="csv")


def read_csv(path: Path, columns: dict[str, Callable[[str], object]]) -> list[dict]:
    """Rows of ``path`` with each of ``columns`` converted; a missing column or a bad value names its line."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise _refused(f"Cannot read {path}: {exc.strerror}.") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [name for name in columns if name not in (reader.fieldnames or [])]
        if missing:
            raise _refused(f"The CSV lacks the column(s) {', '.join(missing)}; it needs {', '.join(columns)}.")
        rows = []
        try:
            for line, raw in enumerate(reader, start=2):
                if len(rows) >= MAX_ROWS:
                    raise _refused(f"At most {MAX_ROWS} rows.")
                rows.append(_row(raw, columns, line))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise _refused(f"The CSV could not be read: {exc}.") from None
    return rows


def _row(raw: dict, columns: dict[str, Callable[[str], object]], line: int) -> dict:
    row = {}
    for name, convert in columns.items():
        try:
            row[name] = convert((raw.get(name) or "").strip())
        except ValueError:
            raise _refused(f"Line {line}: {name} = {raw.get(name)!r} is not valid.") from None
    return row


def nonempty(value: str) -> str:
    if not value:
        raise ValueError("empty")
    return value


def at_least(rows: list, count: int) -> None:
    if len(rows) < count:
        raise _refused(f"Training needs at least {count} rows; the CSV has {len(rows)}.")
