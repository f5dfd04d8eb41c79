"""Rate limits: three strategies, each where it fits (docs/safety.md has the table).

- **Sliding window** (``sliding_window``): requests per minute per user or API key. Counts the current and the
  previous minute and weighs the previous one by how much of it still lies inside the last 60 seconds, so a
  client cannot double its rate by straddling a minute boundary, as it can with fixed windows. Used for model
  requests (websocket sends, REST messages, /v1 completions: the role policy's ``requests_per_minute``) and for
  all requests (a multiple of it). Websocket sends and HTTP requests of a user share the same counters.
- **Fixed window** (django-ratelimit's ``get_usage``): per client IP for visitors who are not signed in, and for
  failed sign-ins (``accounts.throttling``): cheap, and exact enough where the key is an address.
- **Token bucket** (``TokenBucket``): frames on one websocket: a burst is fine, a flood is not. Kept in the
  connection's memory, since a flood arrives over one socket.

Counters live in the cache django-ratelimit uses (``RATELIMIT_USE_CACHE``): Redis (``REDIS_URL``, or the embedded
Valkey), so every web process counts on the same ones.
"""

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from accounts.models import User
from accounts.policies import policy_for
from core.errors import ServiceError

WINDOW = 60  # seconds: every limit here is "per minute"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    retry_after: int = 0  # seconds until a request would be allowed again (0 when allowed)


def _cache():
    return caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]


def _retry_after(limit: int, previous: int, current: int, elapsed: float) -> int:
    """Seconds until previous·(1 − (elapsed + t)/WINDOW) + current fits under ``limit`` again (without new requests)."""
    if current < limit and previous > 0:  # room for one more once the previous minute has faded enough
        wait = WINDOW * (1 - (limit - current - 1) / previous) - elapsed
    else:  # this minute alone is full: wait for it to start fading out, in the next one
        wait = (WINDOW - elapsed) + WINDOW * (1 - (limit - 1) / max(current, 1))
    return max(1, math.ceil(wait))


def sliding_window(key: str, limit: int) -> Decision:
    """Count one request for ``key``; refused requests are not counted, so a client that waits gets through."""
    if not settings.RATELIMIT_ENABLE:
        return Decision(True, limit)
    cache = _cache()
    now = time.time()
    window = int(now // WINDOW)
    elapsed = now - window * WINDOW
    current_key, previous_key = f"rl:sw:{key}:{window}", f"rl:sw:{key}:{window - 1}"
    cache.add(current_key, 0, 2 * WINDOW + 5)
    current = cache.incr(current_key)
    previous = cache.get(previous_key, 0)
    if previous * (1 - elapsed / WINDOW) + current <= limit:
        return Decision(True, limit)
    cache.decr(current_key)
    return Decision(False, limit, _retry_after(limit, previous, current - 1, elapsed))


def anonymous_request(request: HttpRequest) -> Decision:
    """A visitor who is not signed in: a fixed window per client IP."""
    limit = settings.RATE_LIMIT_ANONYMOUS_PER_MINUTE
    usage = get_usage(request, group="anonymous", key="ip", rate=f"{limit}/m", increment=True)
    if usage is None or not usage["should_limit"]:
        return Decision(True, limit)
    return Decision(False, limit, max(1, usage["time_left"]))


def principal(user: User, api_key_id: int | None = None) -> str:
    """Whose counter a request counts on: the API key's when it came with one, the user's otherwise."""
    return f"key:{api_key_id}" if api_key_id is not None else f"user:{user.pk}"


def check_request(
    user: User, api_key_id: int | None = None, *, model_request: bool = False, request_counted: bool = False
) -> Decision:
    """Count a signed-in user's request; a model request counts against both limits (``request_counted``: the
    general one was counted already, by the entry point)."""
    rate = policy_for(user).requests_per_minute
    who = principal(user, api_key_id)
    if not request_counted:
        overall = sliding_window(f"all:{who}", rate * settings.RATE_LIMIT_ALL_REQUESTS_FACTOR)
        if not overall.allowed or not model_request:
            return overall
    elif not model_request:
        return Decision(True, rate)
    return sliding_window(f"model:{who}", rate)


def refusal(decision: Decision, what: str = "requests") -> ServiceError:
    return ServiceError(
        "rate_limited",
        f"Too many {what}: the limit is {decision.limit} a minute. Try again in {decision.retry_after} s.",
        status=429,
        retry_after=decision.retry_after,
    )


def enforce(
    user: User, api_key_id: int | None = None, *, model_request: bool = False, request_counted: bool = False
) -> None:
    decision = check_request(user, api_key_id, model_request=model_request, request_counted=request_counted)
    if not decision.allowed:
        raise refusal(decision, "model requests" if model_request else "requests")


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second; each frame takes one."""

    def __init__(self, capacity: int, rate: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = float(capacity)
        self.updated = time.monotonic()

    def take(self) -> float:
        """0 if a token was taken; otherwise the seconds until one will be there."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate
