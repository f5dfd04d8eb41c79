"""A batch input file, line by line, checked before anything runs: one bad line fails the batch, with an error per
bad line (OpenAI's codes), so nothing is half-run. Each body is checked by the same parser its endpoint uses, and its
model against the owner's role, so a line that passes here is refused later only by a limit (quota, guardrails)."""

import json
from dataclasses import dataclass, field

from django.conf import settings

from accounts.models import User
from chat import admission, llm
from chat.openai_compat.embeddings import embeddings_request
from chat.openai_compat.request import parse_completion
from core.errors import ServiceError
from presets import selectors as presets

CHAT_COMPLETIONS = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
ENDPOINTS = (CHAT_COMPLETIONS, EMBEDDINGS)
MAX_ERRORS = 100  # reported per batch; the first ones are enough to fix a file
MAX_CUSTOM_ID = 512


@dataclass
class Checked:
    lines: list[tuple[int, str, dict]] = field(default_factory=list)  # (line number, custom_id, body)
    errors: list[dict] = field(default_factory=list)
    model: str = ""

    def refuse(self, line: int | None, code: str, message: str, param: str | None = None) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"code": code, "message": message, "param": param, "line": line})


def _line_error(checked: Checked, number: int, request: object, endpoint: str) -> tuple[str, dict] | None:
    if not isinstance(request, dict):
        checked.refuse(number, "invalid_json_line", "This line is not a JSON object.")
        return None
    for name in ("custom_id", "method", "url", "body"):
        if request.get(name) is None:
            checked.refuse(number, "missing_required_parameter", f"Missing required parameter: '{name}'.", name)
            return None
    custom_id, body = request["custom_id"], request["body"]
    if not isinstance(custom_id, str) or not custom_id or len(custom_id) > MAX_CUSTOM_ID:
        checked.refuse(number, "invalid_request", f"'custom_id' must be a string of 1-{MAX_CUSTOM_ID} characters.")
        return None
    if request["method"] != "POST":
        checked.refuse(number, "invalid_request", "Only the POST method is supported.", "method")
        return None
    if request["url"] != endpoint:
        message = "The URL provided for this request does not match the batch endpoint."
        checked.refuse(number, "invalid_url", message, "url")
        return None
    if not isinstance(body, dict):
        checked.refuse(number, "invalid_request", "'body' must be a JSON object.", "body")
        return None
    if endpoint == CHAT_COMPLETIONS and body.get("stream"):  # an embeddings body has no such field: its parser says so
        message = "Chat Completions: Streaming is not supported in the Batch API."
        checked.refuse(number, "streaming_unsupported", message, "body.stream")
        return None
    return custom_id, body


def chat_model(owner: User, name: str | None) -> str:
    """The model chat lines run on, as ``owner`` may use it: a configured model (its configured name), or a preset
    (``preset/<slug>``, checked as /v1 checks it: visible to the owner, allowed, its base model allowed)."""
    if presets.is_preset_model(name):
        use = presets.preset_use(owner, name)
        admission.check_can_use(owner, llm.model_config(use.base_model or None).name)
        return use.model_name
    model = llm.model_config(name).name
    admission.check_can_use(owner, model)
    return model


def _check_model(owner: User, endpoint: str, body: dict, *, known: str) -> None:
    """The body as its endpoint's own parser (the one its /v1 view uses) reads it, and its model as the owner may use
    it (once per batch: ``known`` is the model earlier lines passed with)."""
    if endpoint == EMBEDDINGS:
        embeddings_request(body)  # the one embeddings model, or a 404 naming it
        admission.check_can_use(owner, settings.EMBEDDINGS_MODEL)
        return
    parse_completion(json.dumps(body).encode())
    if not known or body.get("model") != known:
        chat_model(owner, body.get("model"))


def _body_error(checked: Checked, number: int, owner: User, endpoint: str, body: dict) -> bool:
    try:
        _check_model(owner, endpoint, body, known=checked.model)
    except ServiceError as exc:
        code = "model_not_found" if exc.status == 404 else exc.code
        checked.refuse(number, code, exc.message, f"body.{exc.param}" if exc.param else "body")
        return True
    if checked.model and body["model"] != checked.model:
        message = f"Every request of a batch uses one model; this line asks for {body['model']!r}, others for "
        checked.refuse(number, "model_mismatch", message + repr(checked.model) + ".", "body.model")
        return True
    checked.model = body["model"]
    return False


def check_lines(owner: User, endpoint: str, text_lines) -> Checked:
    """Every request of the file (blank lines skipped), or the reasons it cannot run."""
    checked, seen = Checked(), set()
    for number, raw in enumerate(text_lines, start=1):
        if not raw.strip():
            continue
        try:
            request = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            checked.refuse(number, "invalid_json_line", "This line is not parseable as valid JSON.")
            continue
        parsed = _line_error(checked, number, request, endpoint)
        if parsed is None or _body_error(checked, number, owner, endpoint, parsed[1]):
            continue
        custom_id, body = parsed
        if custom_id in seen:
            message = "The custom ID for this request is a duplicate of the custom ID in another request."
            checked.refuse(number, "duplicate_custom_id", message, "custom_id")
            continue
        seen.add(custom_id)
        checked.lines.append((number, custom_id, body))
    if not checked.lines and not checked.errors:
        checked.refuse(None, "empty_file", "The input file is empty: it needs at least one request.")
    return checked
