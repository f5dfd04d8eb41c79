"""A version's input schema, and prediction inputs checked against it.

A schema is a list of fields: ``{"name", "type": "number" | "integer" | "string", "required"?: bool (true),
"minimum"?, "maximum"?, "choices"?: [strings], "max_length"?: int}``. Inputs are one row (an object) or a list of
rows; every refusal names the field at fault (``inputs[3].area_m2``), so the API answers 400 with that name.
"""

import math
from dataclasses import dataclass

from core.errors import ServiceError

TYPES = ("number", "integer", "string")
FIELD_KEYS = {"name", "type", "required", "minimum", "maximum", "choices", "max_length", "description"}
MAX_FIELDS = 200
DEFAULT_MAX_LENGTH = 10_000


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool = True
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    max_length: int = DEFAULT_MAX_LENGTH


def _schema_error(message: str) -> ServiceError:
    return ServiceError("invalid_schema", f"input_schema: {message}", param="input_schema")


def _bound(entry: dict, key: str, name: str) -> float | None:
    value = entry.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise _schema_error(f"{name}.{key} must be a number.")
    return value


def _field(entry: object) -> Field:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise _schema_error("each field is an object with a 'name'.")
    name = entry["name"]
    if unknown := set(entry) - FIELD_KEYS:
        raise _schema_error(f"{name} has unknown keys: {', '.join(sorted(unknown))}.")
    if entry.get("type") not in TYPES:
        raise _schema_error(f"{name}.type must be one of {', '.join(TYPES)}.")
    choices = entry.get("choices") or ()
    if not isinstance(choices, list | tuple) or not all(isinstance(c, str) for c in choices):
        raise _schema_error(f"{name}.choices must be a list of strings.")
    max_length = entry.get("max_length", DEFAULT_MAX_LENGTH)
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise _schema_error(f"{name}.max_length must be a positive integer.")
    return Field(
        name=name,
        type=entry["type"],
        required=bool(entry.get("required", True)),
        minimum=_bound(entry, "minimum", name),
        maximum=_bound(entry, "maximum", name),
        choices=tuple(choices),
        max_length=max_length,
    )


def parse_schema(schema: object) -> list[Field]:
    """The fields of a stored or uploaded schema; a malformed one is refused, naming what is wrong."""
    if not isinstance(schema, list) or not schema or len(schema) > MAX_FIELDS:
        raise _schema_error(f"a list of 1 to {MAX_FIELDS} fields.")
    fields = [_field(entry) for entry in schema]
    names = [field.name for field in fields]
    if len(set(names)) != len(names):
        raise _schema_error("field names must be distinct.")
    return fields


def _invalid(where: str, message: str) -> ServiceError:
    return ServiceError("invalid_input", f"{where}: {message}", param=where)


def _number(field: Field, value: object, where: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid(where, f"must be a {field.type}.")
    if field.type == "integer":
        if value != int(value):
            raise _invalid(where, "must be a whole number.")
        value = int(value)
    if field.minimum is not None and value < field.minimum:
        raise _invalid(where, f"must be at least {field.minimum}.")
    if field.maximum is not None and value > field.maximum:
        raise _invalid(where, f"must be at most {field.maximum}.")
    return value


def _string(field: Field, value: object, where: str) -> str:
    if not isinstance(value, str):
        raise _invalid(where, "must be a string.")
    if field.choices and value not in field.choices:
        raise _invalid(where, f"must be one of {', '.join(field.choices)}.")
    if len(value) > field.max_length:
        raise _invalid(where, f"must be at most {field.max_length} characters.")
    if not value.strip() and field.required:
        raise _invalid(where, "must not be empty.")
    return value


def _row(fields: list[Field], row: object, where: str) -> dict:
    if not isinstance(row, dict):
        raise _invalid(where, "each input is an object of field values.")
    known = {field.name for field in fields}
    if unknown := [name for name in row if name not in known]:
        raise _invalid(f"{where}.{unknown[0]}", "is not a field of this model.")
    clean = {}
    for field in fields:
        at = f"{where}.{field.name}"
        value = row.get(field.name)
        if value is None:
            if field.required:
                raise _invalid(at, "is required.")
            clean[field.name] = None
            continue
        clean[field.name] = _string(field, value, at) if field.type == "string" else _number(field, value, at)
    return clean


def validate_inputs(fields: list[Field], inputs: object, *, max_rows: int) -> tuple[list[dict], bool]:
    """The rows of ``inputs`` (one object, or a list of them), each checked and coerced; and whether it was a list."""
    if isinstance(inputs, dict):
        return [_row(fields, inputs, "inputs")], False
    if not isinstance(inputs, list) or not inputs:
        raise _invalid("inputs", "an object of field values, or a non-empty list of them.")
    if len(inputs) > max_rows:
        raise _invalid("inputs", f"at most {max_rows} rows per request.")
    return [_row(fields, row, f"inputs[{index}]") for index, row in enumerate(inputs)], True
