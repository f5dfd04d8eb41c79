"""``POST /v1/embeddings`` in OpenAI's shape, so the official SDK and LangChain's ``OpenAIEmbeddings`` work unchanged.

Fields: ``input`` (a string or a list of up to 2048 strings), ``model`` (the configured ``EMBEDDINGS_MODEL``),
``encoding_format`` (``float`` or ``base64``: little-endian float32, as OpenAI sends it), ``dimensions`` (at most the
model's; fewer are the first components, re-normalised) and ``user`` (accepted, unused). Anything else is a 400 that
names it, as OpenAI answers. Token-id arrays are refused: clients make them with tiktoken, whose ids mean other words
in this model's vocabulary, so accepting them would return wrong vectors without an error.

The request is parsed, admitted, embedded and answered on the embedding threads (``chat.embeddings.EXECUTOR``): the
JSON of a large batch takes milliseconds to read and write, which the event loop does not wait for. A batch line
(``batches.embedding_lines``) is parsed by ``embeddings_request`` and answered by ``answer_data``, as this view is.
"""

import base64
import json
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from chat import admission
from chat.embeddings import EXECUTOR, Embedded, embeddings_create
from chat.openai_compat.request import checked_fields, json_object
from chat.openai_compat.views import service_error
from core.db import in_db_thread
from core.errors import ServiceError

FIELDS = frozenset({"input", "model", "encoding_format", "dimensions", "user"})
MAX_INPUTS = 2048  # OpenAI's own limit per request
# OpenAI refuses an input over 8192 tokens; this is about that many tokens of English. all-MiniLM-L6-v2 reads only
# its first 256 (about 1000 characters): the embedding service truncates the rest, which is not charged.
MAX_INPUT_CHARS = 32_768


@dataclass(frozen=True)
class EmbeddingsRequest:
    texts: list[str]
    base64: bool
    dimensions: int | None


def _invalid(param: str, message: str, code: str = "invalid_request") -> ServiceError:
    return ServiceError(code, message, param=param)


def _is_token_array(value: object) -> bool:
    if not isinstance(value, list) or not value:
        return False
    return all(isinstance(item, int) and not isinstance(item, bool) for item in value)


def _texts(raw: object) -> list[str]:
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts:
        raise _invalid("input", "'input' must be a non-empty string or a non-empty list of strings.", "invalid_input")
    if _is_token_array(texts) or all(_is_token_array(item) for item in texts):
        raise _invalid(
            "input", "'input' holds token ids: token arrays are not supported here, send the text.", "unsupported_input"
        )
    if len(texts) > MAX_INPUTS:
        raise _invalid("input", f"'input' may hold at most {MAX_INPUTS} texts; got {len(texts)}.", "too_many_inputs")
    for position, text in enumerate(texts):
        param = "input" if isinstance(raw, str) else f"input[{position}]"
        if not isinstance(text, str):
            raise _invalid(param, f"{param} must be a string.", "invalid_input")
        if not text:
            raise _invalid(param, f"{param} is empty; every input must hold some text.", "empty_input")
        if len(text) > MAX_INPUT_CHARS:
            message = f"{param} has {len(text)} characters; the limit is {MAX_INPUT_CHARS}."
            raise _invalid(param, message, "input_too_long")
    return texts


def _dimensions(value: object) -> int | None:
    native = settings.EMBEDDING_DIMENSIONS
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= native:
        got = value if isinstance(value, int) and not isinstance(value, bool) else type(value).__name__
        message = f"'dimensions' must be an integer from 1 to {native}, this model's size; got {got}."
        raise _invalid("dimensions", message, "invalid_dimensions")
    return value


def parse_embeddings(raw_body: bytes) -> EmbeddingsRequest:
    return embeddings_request(json_object(raw_body))


def embeddings_request(body: dict) -> EmbeddingsRequest:
    """A decoded body, checked field by field: the view's request, and each line of an embeddings batch when the
    batch is validated, so a line that passes there is one this endpoint would accept."""
    checked_fields(body, FIELDS)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _invalid("model", "'model' is required.", "missing_model")
    if model != settings.EMBEDDINGS_MODEL:
        message = f"The model {model!r} does not exist here; the embeddings model is {settings.EMBEDDINGS_MODEL!r}."
        raise ServiceError("model_not_found", message, status=404, param="model")
    texts = _texts(body.get("input"))
    encoding = body.get("encoding_format")
    if encoding not in (None, "float", "base64"):
        raise _invalid("encoding_format", "'encoding_format' must be 'float' or 'base64'.", "invalid_encoding_format")
    return EmbeddingsRequest(texts, encoding == "base64", _dimensions(body.get("dimensions")))


def response_data(embedded: Embedded, *, as_base64: bool) -> dict:
    vectors = embedded.vectors
    if as_base64:
        rows: list = [base64.b64encode(row.astype("<f4", copy=False).tobytes()).decode("ascii") for row in vectors]
    else:
        rows = vectors.tolist()  # each float32 as the double it is exactly: parses back to the same float32
    tokens = embedded.prompt_tokens
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)],
        "model": settings.EMBEDDINGS_MODEL,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def answer_data(request: EmbeddingsRequest, caller: admission.Caller) -> dict:
    """The answer to a parsed request, through the gate (admission, quota, the usage ledger). Blocking: run it on
    ``EXECUTOR``."""
    embedded = embeddings_create(caller=caller, texts=request.texts, dimensions=request.dimensions)
    return response_data(embedded, as_base64=request.base64)


def _answer(raw_body: bytes, authorization: str | None) -> bytes:
    body = answer_data(parse_embeddings(raw_body), admission.Caller(authorization=authorization))
    return json.dumps(body, separators=(",", ":")).encode()


_answer_off_loop = in_db_thread(_answer, executor=EXECUTOR)


@csrf_exempt
@require_POST
async def embeddings(request: HttpRequest) -> HttpResponse:
    try:
        body = await _answer_off_loop(request.body, request.headers.get("Authorization"))
    except ServiceError as exc:
        return service_error(exc)
    return HttpResponse(body, content_type="application/json")
