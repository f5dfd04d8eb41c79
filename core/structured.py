"""Structured outputs: ``response_format`` (``json_object`` / ``json_schema``, OpenAI's shape) checked on our side.

The model server is asked to constrain its decoding (llama-server turns a schema into a grammar), but an answer under
a format is only ever shown after it parsed as JSON and, for a schema, validated with ``jsonschema`` here: a backend
that ignores the request, or stops at ``max_tokens`` in the middle of an object, cannot hand a client invalid output.
Schemas are bounded (size, depth, properties) and may only refer inside themselves: validating a client's schema
never fetches anything.
"""

import json
import re
from dataclasses import dataclass

import jsonschema
import referencing.exceptions

from core.errors import ServiceError

MAX_SCHEMA_BYTES = 16_384
MAX_SCHEMA_DEPTH = 12  # nested objects/arrays of the schema document itself
MAX_SCHEMA_NODES = 500
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
JSON_OBJECT = "json_object"
JSON_SCHEMA = "json_schema"
FAILED_CODE = "schema_validation_failed"


class OutputMismatch(Exception):
    """The model's text is not JSON, or not what the schema asks for; ``reason`` says where."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _invalid(param: str, message: str, code: str = "invalid_response_format") -> ServiceError:
    return ServiceError(code, message, param=param)


def _measure(node: object, depth: int = 1) -> tuple[int, int]:
    """(deepest nesting, number of nodes) of a JSON document, stopping early once past the bounds."""
    if depth > MAX_SCHEMA_DEPTH:
        return depth, 1
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    deepest, count = depth, 1
    for child in children:
        child_depth, child_count = _measure(child, depth + 1)
        deepest, count = max(deepest, child_depth), count + child_count
        if count > MAX_SCHEMA_NODES or deepest > MAX_SCHEMA_DEPTH:
            break
    return deepest, count


def _local_refs_only(node: object, param: str) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref is not None and (not isinstance(ref, str) or not ref.startswith("#")):
            raise _invalid(param, f"{param}: only local references ('#/...') are supported; got {ref!r}.")
        for child in node.values():
            _local_refs_only(child, param)
    elif isinstance(node, list):
        for child in node:
            _local_refs_only(child, param)


def check_schema(schema: object, param: str) -> dict:
    """A client's JSON Schema, bounded and well-formed, or a 400 naming ``param``."""
    if not isinstance(schema, dict):
        raise _invalid(param, f"'{param}' must be a JSON Schema object.")
    if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
        raise _invalid(param, f"'{param}' is larger than {MAX_SCHEMA_BYTES} bytes.", "schema_too_large")
    depth, nodes = _measure(schema)
    if depth > MAX_SCHEMA_DEPTH or nodes > MAX_SCHEMA_NODES:
        raise _invalid(
            param,
            f"'{param}' is too complex: at most {MAX_SCHEMA_DEPTH} levels and {MAX_SCHEMA_NODES} nodes.",
            "schema_too_large",
        )
    _local_refs_only(schema, param)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise _invalid(param, f"'{param}' is not a valid JSON Schema: {exc.message}.") from None
    return schema


@dataclass(frozen=True)
class OutputFormat:
    kind: str  # JSON_OBJECT or JSON_SCHEMA
    schema: dict | None = None
    name: str = ""
    strict: bool = False

    def backend_field(self) -> dict:
        """``response_format`` as OpenAI-compatible servers take it (llama-server constrains decoding by it)."""
        if self.kind == JSON_OBJECT:
            return {"type": JSON_OBJECT}
        return {"type": JSON_SCHEMA, "json_schema": {"name": self.name, "schema": self.schema, "strict": self.strict}}

    def check(self, text: str) -> object:
        """The parsed value, or OutputMismatch saying what is wrong."""
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise OutputMismatch(f"the answer is not valid JSON ({exc.__class__.__name__}: {exc})") from None
        if self.kind == JSON_OBJECT:
            if not isinstance(value, dict):
                raise OutputMismatch("the answer is JSON but not an object")
            return value
        try:
            error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(self.schema).iter_errors(value))
        except referencing.exceptions.Unresolvable as exc:
            raise OutputMismatch(f"the schema refers to something it does not define ({exc})") from None
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path) or "(root)"
            raise OutputMismatch(f"at {where}: {error.message}")
        return value


def parse_response_format(value: object, param: str = "response_format") -> OutputFormat | None:
    """OpenAI's ``response_format``: ``text`` (the default), ``json_object`` or ``json_schema``."""
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == JSON_OBJECT:
        return OutputFormat(JSON_OBJECT)
    if kind != JSON_SCHEMA:
        raise _invalid(f"{param}.type", f"'{param}.type' must be one of text, json_object, json_schema.")
    spec = value.get(JSON_SCHEMA)
    if not isinstance(spec, dict):
        raise _invalid(f"{param}.json_schema", f"'{param}.json_schema' must be an object with a name and a schema.")
    name = spec.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise _invalid(f"{param}.json_schema.name", "The schema's name must be 1-64 letters, digits, '_' or '-'.")
    strict = spec.get("strict") or False
    if not isinstance(strict, bool):
        raise _invalid(f"{param}.json_schema.strict", "'strict' must be true or false.")
    schema = check_schema(spec.get("schema", {}), f"{param}.json_schema.schema")
    return OutputFormat(JSON_SCHEMA, schema=schema, name=name, strict=strict)


def retry_prompt(prompt: list[dict], rejected: str, mismatch: OutputMismatch) -> list[dict]:
    """The second attempt sees what was wrong with the first, so it does not repeat it (same seed, same output)."""
    return [
        *prompt,
        {"role": "assistant", "content": rejected[:2000]},
        {
            "role": "user",
            "content": f"That reply was rejected: {mismatch.reason[:300]}. Reply again with only the JSON asked for.",
        },
    ]
