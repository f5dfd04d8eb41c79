"""The OpenAI-compatible API: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Plain async views (not DRF) so the wire format, errors and streaming match OpenAI's exactly and the official
``openai`` SDK works unchanged. Every request is authenticated by API key and recorded as a conversation.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator

from django.conf import settings
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts import ratelimits
from accounts.authentication import InvalidApiKey, api_key_authenticate, bearer_token
from accounts.db import in_db_thread
from accounts.errors import ServiceError
from accounts.models import ApiKeyScope, User
from accounts.permissions import can_chat
from accounts.policies import policy_for
from chat import llm, quotas, safety, services
from chat.generation import Generation
from chat.models import Conversation

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
PASSED_THROUGH = ("temperature", "top_p", "stop", "presence_penalty", "frequency_penalty", "seed")


def openai_error(status: int, message: str, *, kind: str, code: str | None = None, param: str | None = None):
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JsonResponse(body, status=status)


def _error_kind(status: int) -> str:
    return {
        401: "authentication_error",
        403: "permission_error",
        404: "invalid_request_error",
        429: "rate_limit_error",
    }.get(status, "invalid_request_error" if status < 500 else "api_error")


def service_error(exc: ServiceError) -> JsonResponse:
    if exc.code == "quota_exceeded":
        # OpenAI's own shape for a spent budget. The SDK retries 429s by itself unless told not to; retrying cannot
        # help before the reset, hours away.
        response = openai_error(exc.status, exc.message, kind="insufficient_quota", code=exc.code)
        response["x-should-retry"] = "false"
    else:
        response = openai_error(exc.status, exc.message, kind=_error_kind(exc.status), code=exc.code)
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    return response


def _authenticate(authorization: str | None, scope: str | None, model: str | None = None) -> User:
    """The key's user, counted against its rate limits, and (with ``model``) the check that they may chat with it:
    one database round trip."""
    token = bearer_token(authorization)
    if token is None:
        raise ServiceError("missing_api_key", "Send your API key as 'Authorization: Bearer <key>'.", status=401)
    try:
        api_key = api_key_authenticate(token)
    except InvalidApiKey as exc:
        raise ServiceError("invalid_api_key", str(exc), status=401) from None
    if scope is not None and scope not in api_key.scopes:
        raise ServiceError("insufficient_scope", f"This API key lacks the '{scope}' scope.", status=403)
    ratelimits.enforce(api_key.user, api_key.pk, model_request=model is not None)
    if model is not None:
        services.check_can_chat(api_key.user, llm.model_config(model))
    return api_key.user


authenticate = in_db_thread(_authenticate)


def _admit(authorization: str | None, body: dict) -> tuple[User, list[dict], quotas.Hold]:
    """Everything a completion needs before the model is called, in one trip to a database thread: the key and its
    user, the prompt's shape and size, the guardrails' screening, and the quota hold."""
    model = body["model"]
    user = _authenticate(authorization, ApiKeyScope.CHAT, model)
    try:
        messages = parse_messages(body.get("messages"))
    except ServiceError as exc:
        if exc.code == "prompt_too_long":
            safety.refuse_oversize(user=user, error=exc, text=str(body.get("messages"))[:2000])
        raise
    safety.screen_prompt(
        user=user,
        texts=[m["content"] for m in messages if m["role"] == "user"],
        context=[m["content"] for m in messages if m["role"] != "user"],
    )
    config = llm.model_config(model)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens")) or config.max_output_tokens
    hold = quotas.reserve_for(user, config, messages, max_tokens, grounded=False)
    return user, messages, hold


admit = in_db_thread(_admit)


async def _admitted(authorization: str | None, body: dict) -> tuple[User, list[dict], quotas.Hold]:
    """``admit``, which finishes (and gives its hold back) even if the client hangs up meanwhile: a hold nobody
    uses would otherwise count against the user's budget until the day ends."""
    admission = asyncio.ensure_future(admit(authorization, body))
    try:
        return await asyncio.shield(admission)
    except asyncio.CancelledError:
        admission.add_done_callback(_release_unused)
        raise


_releasing: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks


def _release_unused(admission: asyncio.Future) -> None:
    if not admission.cancelled() and admission.exception() is None:
        task = asyncio.ensure_future(in_db_thread(quotas.release)(admission.result()[2]))
        _releasing.add(task)
        task.add_done_callback(_releasing.discard)


def _text(content: object, position: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ServiceError("invalid_content", f"messages[{position}]: only text content parts are supported.")
            parts.append(part["text"])
        return "".join(parts)
    raise ServiceError("invalid_content", f"messages[{position}].content must be a string or a list of text parts.")


def parse_messages(raw: object) -> list[dict]:
    if not isinstance(raw, list) or not raw:
        raise ServiceError("invalid_messages", "'messages' must be a non-empty list.")
    messages = []
    for position, message in enumerate(raw):
        role = message.get("role") if isinstance(message, dict) else None
        if not isinstance(role, str) or role not in ROLES:
            raise ServiceError("invalid_role", f"messages[{position}].role must be one of {', '.join(ROLES)}.")
        content = _text(message.get("content"), position)
        if "\x00" in content:
            raise ServiceError("invalid_content", f"messages[{position}].content contains a NUL character.")
        messages.append({"role": ROLES[role], "content": content})
    if messages[-1]["role"] != "user":
        raise ServiceError("invalid_messages", "The last message must come from the user.")
    total = sum(len(message["content"]) for message in messages)
    if total > settings.CHAT_MAX_PROMPT_CHARS:
        raise ServiceError(
            "prompt_too_long",
            f"The prompt has {total} characters; the limit is {settings.CHAT_MAX_PROMPT_CHARS}.",
            status=413,
        )
    return messages


def parse_body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"")
    except json.JSONDecodeError:
        raise ServiceError("invalid_json", "The request body must be JSON.") from None
    if not isinstance(body, dict):
        raise ServiceError("invalid_json", "The request body must be a JSON object.")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise ServiceError("missing_model", "'model' is required.")
    if body.get("n", 1) != 1:
        raise ServiceError("unsupported_n", "Only n=1 is supported.")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise ServiceError("invalid_max_tokens", "'max_tokens' must be a positive integer.")
    if body.get("stream_options") is not None and not isinstance(body["stream_options"], dict):
        raise ServiceError("invalid_stream_options", "'stream_options' must be an object.")
    return body


@csrf_exempt
@require_POST
async def chat_completions(request: HttpRequest):
    try:
        body = parse_body(request)
        user, messages, hold = await _admitted(request.headers.get("Authorization"), body)
        reply = await services.exchange_start(
            user=user,
            model=body["model"],
            messages=messages,
            hold=hold,
            extra={name: body[name] for name in PASSED_THROUGH if body.get(name) is not None},
            source=Conversation.Source.OPENAI,
        )
    except ServiceError as exc:
        return service_error(exc)
    completion_id = f"chatcmpl-{reply.turn.assistant_message.pk.hex}"
    model = reply.generation.request.model.name
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        response = StreamingHttpResponse(
            _stream(reply.generation, reply.events, completion_id, model, include_usage),
            content_type="text/event-stream",
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
    reply.generation.unsubscribe(reply.events)
    await reply.generation.finished.wait()
    return _completion(reply.generation, completion_id, model)


def _usage(generation: Generation) -> dict:
    usage = generation.outcome.usage
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def _completion(generation: Generation, completion_id: str, model: str) -> JsonResponse:
    outcome = generation.outcome
    if outcome.status == "failed":
        return openai_error(502, outcome.error, kind="api_error", code=outcome.error_code)
    return JsonResponse(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": outcome.content},
                    "logprobs": None,
                    "finish_reason": outcome.finish_reason or "stop",
                }
            ],
            "usage": _usage(generation),
        }
    )


def _chunk(completion_id: str, model: str, created: int, delta: dict, finish_reason: str | None = None) -> str:
    chunk = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    return f"data: {json.dumps(chunk)}\n\n"


async def _stream(
    generation: Generation, events, completion_id: str, model: str, include_usage: bool
) -> AsyncIterator[str]:
    created = int(time.time())
    try:
        yield _chunk(completion_id, model, created, {"role": "assistant", "content": ""})
        while (event := await events.get()) is not None:
            if event["type"] == "delta":
                yield _chunk(completion_id, model, created, {"content": event["text"]})
            elif event["type"] == "error":
                error = {"message": event["message"], "type": "api_error", "param": None, "code": event["code"]}
                yield f"data: {json.dumps({'error': error})}\n\n"
            elif event["type"] == "done" and event["status"] != "failed":
                yield _chunk(completion_id, model, created, {}, event["finish_reason"] or "stop")
                if include_usage:
                    usage = {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": _usage(generation),
                    }
                    yield f"data: {json.dumps(usage)}\n\n"
        yield "data: [DONE]\n\n"
    finally:
        generation.unsubscribe(events)


def _allowed_models(user: User) -> list[str]:
    if not can_chat(user):
        return []
    policy = policy_for(user)
    return [model.name for model in llm.configured_models() if policy.allows_model(model.name)]


@require_GET
async def models(request: HttpRequest):
    try:
        user = await authenticate(request.headers.get("Authorization"), None)
    except ServiceError as exc:
        return service_error(exc)
    names = await in_db_thread(_allowed_models)(user)
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "genaisite"} for name in names]
    return JsonResponse({"object": "list", "data": data})
