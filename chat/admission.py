"""The one gate every model request passes, whichever door it came in by (websocket, REST, ``/v1``).

In order: credentials and API-key scope → rate limit → model permission (a preset's: its base model's, and the
preset still shared with the caller and allowed by their role) → size → guardrail screening → quota hold.
Field types were checked by the entry point's parser before (they are the entry point's wire format); everything
that needs the database runs here, in one trip to a database thread. The result is an ``Admission``: the functions
that start a generation accept nothing else (``chat.generation.engine.start`` checks the seal), so a new entry
point cannot skip the safety checks by accident.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from accounts import ratelimits
from accounts.authentication import InvalidApiKey, api_key_authenticate, bearer_token
from accounts.models import ApiKey, ApiKeyScope, User
from accounts.permissions import can_chat, can_use_model, require_scope
from accounts.policies import Policy, policy_for
from chat import embedding_usage, llm, quotas
from chat.safety import screening
from core.db import in_db_thread
from core.errors import ServiceError
from presets.selectors import still_usable
from presets.usage import PresetUse

_SEAL = object()  # only this module holds it: an Admission made anywhere else is refused


@dataclass(frozen=True)
class Caller:
    """Who asks. Either already known (a session, or a key an entry point resolved) or a bearer header to check."""

    user: User | None = None
    api_key: ApiKey | None = None
    authorization: str | None = None  # ``Authorization`` header, when the key is checked here (/v1)
    # The entry point already counted this request on the general per-minute limit (DRF's throttle does).
    request_counted: bool = False
    # A line of a batch job: paced by the batch runner's per-person cap (BATCH_CONCURRENCY_PER_USER), not by the
    # per-minute limits, which are for interactive requests (a 500-line batch would otherwise fail most lines, or
    # take its owner's chat budget); the daily token budget, the model permission and the guardrails still apply.
    batch_line: bool = False


@dataclass(frozen=True)
class Size:
    chars: int
    limit: int
    code: str  # e.g. "message_too_long"
    what: str  # "The message", "The prompt"


@dataclass
class Opened:
    """What ``open`` (run inside the hold's transaction) recorded: the prompt to hold tokens for, and anything the
    entry point needs back (e.g. the conversation's history)."""

    prompt: list[dict]
    grounded: bool
    on_hold: Callable[[quotas.Hold], None] | None = None
    details: Any = None


@dataclass(frozen=True)
class ModelRequest:
    model: str | None  # None: the default model
    user_texts: list[str]  # what the user wrote: screened for blocked topics and prompt injection
    size: Size
    max_tokens: int | None = None
    context_texts: list[str] = field(default_factory=list)  # the rest of a caller's prompt: blocked topics only
    prompt: list[dict] | None = None  # the whole prompt, when the caller sends it; otherwise ``open`` builds it
    # Asked through a preset: ``model`` is its base model (quotas and permissions count on that), and the gate checks
    # the preset itself too.
    preset: PresetUse | None = None
    grounded: bool = False  # retrieval will add sources to ``prompt`` (when there is no ``open``)


@dataclass(frozen=True)
class Admission:
    user: User
    api_key: ApiKey | None
    model: llm.ModelConfig
    hold: quotas.Hold
    prompt: list[dict]
    opened: Opened | None
    seal: object = field(repr=False, compare=False)
    policy: Policy | None = None  # the caller's limits and switches as admitted (the answer cache reads it)
    preset: PresetUse | None = None  # the preset the request was admitted under

    @property
    def genuine(self) -> bool:
        return self.seal is _SEAL


def identify(caller: Caller) -> Caller:
    """The caller with its user (and key) known, for an entry point that must read on their behalf before the gate
    (a preset's settings); the gate still checks the key's scope, the limits and the permissions."""
    user, api_key = _identify(caller)
    return Caller(user=user, api_key=api_key, request_counted=caller.request_counted, batch_line=caller.batch_line)


def _identify(caller: Caller) -> tuple[User, ApiKey | None]:
    if caller.user is not None:
        return caller.user, caller.api_key
    token = bearer_token(caller.authorization)
    if token is None:
        raise ServiceError("missing_api_key", "Send your API key as 'Authorization: Bearer <key>'.", status=401)
    try:
        api_key = api_key_authenticate(token)
    except InvalidApiKey as exc:
        raise ServiceError("invalid_api_key", str(exc), status=401) from None
    return api_key.user, api_key


def authenticate(caller: Caller, *, model: str | None = None, scope: str | None = ApiKeyScope.CHAT) -> User:
    """Steps 1–3 alone (who, scope, rate limit, model permission), for requests that only read (``/v1/models``)."""
    user, api_key = _identify(caller)
    _check(caller, user, api_key, model, scope, model_request=False)
    return user


def _rate_limit(caller: Caller, user: User, api_key: ApiKey | None, *, model_request: bool) -> None:
    if caller.batch_line:
        return
    ratelimits.enforce(
        user, api_key.pk if api_key else None, model_request=model_request, request_counted=caller.request_counted
    )


def _check(caller: Caller, user: User, api_key: ApiKey | None, model: str | None, scope: str | None, *, model_request):
    if scope is not None:
        require_scope(api_key, scope)
    _rate_limit(caller, user, api_key, model_request=model_request)
    if model_request:
        check_can_chat(user, llm.model_config(model))


def check_can_chat(user: User, model: llm.ModelConfig) -> None:
    check_can_use(user, model.name)


def check_can_use(user: User, model: str) -> None:
    """The role may chat and use ``model`` (a chat model, or the embeddings model)."""
    if not can_chat(user):
        raise ServiceError("forbidden", "Your account cannot chat.", status=403)
    if not can_use_model(user, model):
        raise ServiceError("model_not_allowed", f"Your role may not use the model {model!r}.", status=403)


def _screen(user: User, request: ModelRequest) -> None:
    size = request.size
    if size.chars > size.limit:
        error = ServiceError(
            size.code, f"{size.what} has {size.chars} characters; the limit is {size.limit}.", status=413
        )
        # A size refusal is a guardrail decision: recorded like the others.
        screening.refuse_oversize(user=user, error=error, text="\n".join(request.user_texts)[:2000])
        raise error
    screening.screen_prompt(user=user, texts=request.user_texts, context=request.context_texts)


def _admit(caller: Caller, request: ModelRequest, open_: Callable[[], Opened] | None) -> Admission:
    user, api_key = _identify(caller)
    _check(caller, user, api_key, request.model, ApiKeyScope.CHAT, model_request=True)
    if request.preset is not None:
        still_usable(user, request.preset)
    config = llm.model_config(request.model)
    _screen(user, request)  # outside the transaction: a refusal stays recorded
    with transaction.atomic():
        opened = open_() if open_ is not None else None
        prompt = opened.prompt if opened is not None else request.prompt or []
        grounded = opened.grounded if opened is not None else request.grounded
        max_tokens = request.max_tokens or config.max_output_tokens
        hold = quotas.reserve_for(user, config, prompt, max_tokens, grounded=grounded)  # or 429: all rolled back
        if opened is not None and opened.on_hold is not None:
            opened.on_hold(hold)
    return Admission(
        user, api_key, config, hold, prompt, opened, seal=_SEAL, policy=policy_for(user), preset=request.preset
    )


_admit_in_db_thread = in_db_thread(_admit)
_releasing: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks


async def admit(caller: Caller, request: ModelRequest, *, open_: Callable[[], Opened] | None = None) -> Admission:
    """The whole gate, in one database trip. It finishes (and gives its hold back) even if the client hangs up
    meanwhile: a hold nobody uses would otherwise count against the user's budget until the day ends."""
    admission = asyncio.ensure_future(_admit_in_db_thread(caller, request, open_))
    try:
        return await asyncio.shield(admission)
    except asyncio.CancelledError:
        admission.add_done_callback(_release_unused)
        raise


def _release_unused(admission: asyncio.Future) -> None:
    if admission.cancelled() or admission.exception() is not None:
        return
    opened = admission.result().opened
    if opened is not None and opened.on_hold is not None:
        return  # the hold is written on a pending answer: the reaper gives it back from there, exactly once
    task = asyncio.ensure_future(in_db_thread(quotas.release)(admission.result().hold))
    _releasing.add(task)
    task.add_done_callback(_releasing.discard)


@dataclass(frozen=True)
class EmbeddingAdmission:
    user: User
    api_key: ApiKey | None
    hold: quotas.Hold  # exactly the request's tokens: known before the model runs


def admit_embeddings(caller: Caller, *, model: str, texts: list[str]) -> EmbeddingAdmission:
    """The gate for an embeddings request (``/v1/embeddings``), blocking: call it on a database thread.

    The same steps as a chat request's, on the same counters: credentials and the ``chat`` scope → the per-minute
    limit of model requests → the role may chat and use ``model`` → a quota hold. No guardrail screening: nothing is
    generated from an embedded text, as nothing is from a document being ingested, which is not screened either.
    The hold is the exact cost, counted only now that the caller is known (tokenizing a large body is work done for
    no stranger); no answer can be shortened to fit, so a budget without room for all of it is a 429."""
    user, api_key = _identify(caller)
    require_scope(api_key, ApiKeyScope.CHAT)
    _rate_limit(caller, user, api_key, model_request=True)
    check_can_use(user, model)
    budget = policy_for(user).daily_token_budget
    hold = quotas.reserve_exact(user_id=user.pk, budget=budget, tokens=embedding_usage.input_tokens(texts))
    return EmbeddingAdmission(user, api_key, hold)
