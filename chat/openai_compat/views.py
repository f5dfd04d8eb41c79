"""The OpenAI-compatible API: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Plain async views (not DRF) so the wire format, errors and streaming match OpenAI's exactly and the official
``openai`` SDK works unchanged. Every request is authenticated by API key and recorded as a conversation.
"""

import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable

from django.conf import settings
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from accounts.permissions import can_chat
from accounts.policies import policy_for
from chat import admission, answer_cache, llm, services
from chat.generation import constrained
from chat.generation.engine import Generation
from chat.models import Conversation
from chat.openai_compat.request import CompletionRequest, parse_completion
from chat.rag import grounding
from core.db import in_db_thread
from core.errors import ServiceError
from core.structured import FAILED_CODE
from presets import selectors as presets
from presets.usage import PresetUse


def error_body(message: str, *, kind: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def openai_error(status: int, message: str, *, kind: str, code: str | None = None, param: str | None = None):
    return JsonResponse(error_body(message, kind=kind, code=code, param=param), status=status)


def _error_kind(status: int) -> str:
    return {
        401: "authentication_error",
        403: "permission_error",
        404: "invalid_request_error",
        429: "rate_limit_error",
    }.get(status, "invalid_request_error" if status < 500 else "api_error")


def service_error_body(exc: ServiceError) -> dict:
    """A refusal's body in OpenAI's shape (also a failed batch line's response)."""
    if exc.code == "quota_exceeded":  # OpenAI's own type for a spent budget
        return error_body(exc.message, kind="insufficient_quota", code=exc.code)
    return error_body(exc.message, kind=_error_kind(exc.status), code=exc.code, param=exc.param)


def service_error(exc: ServiceError) -> JsonResponse:
    response = JsonResponse(service_error_body(exc), status=exc.status)
    if exc.code == "quota_exceeded":
        # The SDK retries 429s by itself unless told not to; retrying cannot help before the reset, hours away.
        response["x-should-retry"] = "false"
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    return response


def _model_request(
    completion: CompletionRequest, preset: PresetUse | None = None, *, grounded: bool = False
) -> admission.ModelRequest:
    messages = completion.messages
    return admission.ModelRequest(
        model=completion.model,
        user_texts=[m["content"] for m in messages if m["role"] == "user"],
        context_texts=[m["content"] for m in messages if m["role"] != "user"],
        size=admission.Size(completion.prompt_chars, settings.CHAT_MAX_PROMPT_CHARS, "prompt_too_long", "The prompt"),
        max_tokens=completion.max_tokens,
        prompt=messages,
        preset=preset,
        grounded=grounded,
    )


def _preset_for(caller: admission.Caller, name: str) -> tuple[admission.Caller, PresetUse, grounding.DocumentScope]:
    """``preset/<slug>`` as the caller may use it (a 404 naming the model otherwise), and the part of its knowledge
    the caller may read."""
    known = admission.identify(caller)
    use = presets.preset_use(known.user, name)
    scope = grounding.knowledge_scope(known.user, use.knowledge) if use.knowledge else None
    return known, use, scope


def _under_preset(completion: CompletionRequest, use: PresetUse) -> CompletionRequest:
    """The request as the preset makes it: its base model and instructions first; a locked preset drops the caller's
    system messages, sampling parameters, max_tokens and response_format (docs/presets.md)."""
    return dataclasses.replace(
        completion,
        model=use.base_model or llm.default_model().name,
        messages=use.messages(completion.messages),
        sampling=use.parameters(completion.sampling),
        max_tokens=use.answer_limit(completion.max_tokens),
        output=use.output_for(completion.output),
    )


def _knowledge_grounder(admitted: admission.Admission, scope: grounding.DocumentScope | None) -> Callable | None:
    """Retrieval in a preset's knowledge for the last user message (links are not read on /v1)."""
    turns = [m for m in admitted.prompt if m["role"] in ("user", "assistant") and m["content"]]
    if scope is None or not turns or admitted.prompt[-1]["role"] != "user":
        return None
    return grounding.grounder(admitted.user, admitted.model, turns, scope, [], False)


@csrf_exempt
@require_POST
async def chat_completions(request: HttpRequest):
    try:
        completion = parse_completion(request.body)
        caller = admission.Caller(authorization=request.headers.get("Authorization"))
        reply = await start_completion(caller, completion, cache_control=request.headers.get("Cache-Control", ""))
    except ServiceError as exc:
        return service_error(exc)
    completion_id = f"chatcmpl-{reply.turn.assistant_message.pk.hex}"
    model = answered_as(completion, reply.generation)
    if completion.stream:
        response = StreamingHttpResponse(
            _stream(reply.generation, reply.events, completion_id, model, completion.include_usage),
            content_type="text/event-stream",
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return await answer_cache.with_cache_header(response, reply.generation)
    reply.generation.unsubscribe(reply.events)
    await reply.generation.finished.wait()
    status, body = completion_result(reply.generation, completion_id, model)
    return await answer_cache.with_cache_header(JsonResponse(body, status=status), reply.generation)


async def start_completion(
    caller: admission.Caller,
    completion: CompletionRequest,
    *,
    cache_control: str = "",
    source: str = Conversation.Source.OPENAI,
) -> services.Reply:
    """The one way a chat completion starts, from /v1 or a batch line: the gate, the cache plan, the generation.
    ``model: "preset/<slug>"`` runs the request under that preset (its base model is what the gate and quotas see)."""
    preset = scope = None
    if presets.is_preset_model(completion.model):
        caller, preset, scope = await in_db_thread(_preset_for)(caller, completion.model)
        completion = _under_preset(completion, preset)
    output = constrained.contract_for(
        llm.model_config(completion.model), completion.output, completion.tools, tool_history=completion.tool_history
    )
    admitted = await admission.admit(caller, _model_request(completion, preset, grounded=scope is not None))
    cache = answer_cache.plan_for(
        user_id=admitted.user.pk,
        policy=admitted.policy,
        model=admitted.model,
        sampling=completion.sampling,
        asked=completion.cache,
        cache_control=cache_control,
        scope=scope,
    )
    return await services.exchange_start(
        admitted,
        extra=completion.sampling,
        source=source,
        cache=cache,
        output=output,
        ground=_knowledge_grounder(admitted, scope),
    )


def _usage(generation: Generation) -> dict:
    usage = generation.outcome.usage
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def _failure(outcome) -> tuple[int, dict]:
    if outcome.error_code == FAILED_CODE:  # the model could not meet the client's format: the request's own limit
        return 422, error_body(outcome.error, kind="invalid_request_error", code=FAILED_CODE, param="response_format")
    return 502, error_body(outcome.error, kind="api_error", code=outcome.error_code)


def _message(outcome) -> dict:
    message = {"role": "assistant", "content": outcome.content, "refusal": None}
    if outcome.tool_calls:
        message["content"] = outcome.content or None
        message["tool_calls"] = outcome.tool_calls
    return message


def answered_as(completion: CompletionRequest, generation: Generation) -> str:
    """The model name an answer carries: a preset's as it was asked for; any other model's configured name."""
    return completion.model if presets.is_preset_model(completion.model) else generation.request.model.name


def completion_result(generation: Generation, completion_id: str, model: str) -> tuple[int, dict]:
    """The finished answer as /v1 returns it: (HTTP status, body)."""
    outcome = generation.outcome
    if outcome.status == "failed":
        return _failure(outcome)
    return 200, (
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": _message(outcome),
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
                if event.get("tool_calls"):
                    calls = [{"index": i, **call} for i, call in enumerate(event["tool_calls"])]
                    yield _chunk(completion_id, model, created, {"tool_calls": calls})
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
    """The models the user may ask for: chat models, the embeddings model, and ``preset/<slug>`` for each preset
    they may use (visible to them, allowed by their role, on a base model they may use)."""
    if not can_chat(user):
        return []
    policy = policy_for(user)
    names = [model.name for model in llm.configured_models()] + [settings.EMBEDDINGS_MODEL]  # /v1/embeddings' model
    return [name for name in names if policy.allows_model(name)] + presets.usable_model_names(user)


@require_GET
async def models(request: HttpRequest):
    try:
        caller = admission.Caller(authorization=request.headers.get("Authorization"))
        user = await in_db_thread(admission.authenticate)(caller, scope=None)
    except ServiceError as exc:
        return service_error(exc)
    names = await in_db_thread(_allowed_models)(user)
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "genaisite"} for name in names]
    return JsonResponse({"object": "list", "data": data})
