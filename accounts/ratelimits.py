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
from core import metrics, shared_redis
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


# Counts one request in each window, in order, and stops at the first that is full (taking its count back there):
# every limit of a request in one round trip, atomic against every other process.
_SLIDING_WINDOWS = """
local weight, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, #KEYS, 2 do
    local current = redis.call('INCR', KEYS[i])
    if current == 1 then redis.call('EXPIRE', KEYS[i], ttl) end
    local previous = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
    if previous * weight + current > tonumber(ARGV[2 + (i + 1) / 2]) then
        redis.call('DECR', KEYS[i])
        return {(i + 1) / 2, current - 1, previous}
    end
end
return {0, 0, 0}
"""
_script = None


def sliding_windows(limits: list[tuple[str, int]]) -> Decision:
    """Count one request against each ``(key, limit)``; refused requests are not counted (anywhere), so a client
    that waits gets through. The decision is the first refusal's, or the last limit's when all allow."""
    global _script
    if not settings.RATELIMIT_ENABLE or not limits:
        return Decision(True, limits[-1][1] if limits else 0)
    cache = _cache()
    now = time.time()
    window = int(now // WINDOW)
    elapsed = now - window * WINDOW
    keys = []
    for key, _ in limits:
        keys += [cache.make_key(f"rl:sw:{key}:{window}"), cache.make_key(f"rl:sw:{key}:{window - 1}")]
    if _script is None:
        _script = shared_redis.client().register_script(_SLIDING_WINDOWS)
    weight = 1 - elapsed / WINDOW
    refused, current, previous = _script(keys=keys, args=[repr(weight), 2 * WINDOW + 5, *(n for _, n in limits)])
    if not refused:
        return Decision(True, limits[-1][1])
    limit = limits[refused - 1][1]
    return Decision(False, limit, _retry_after(limit, int(previous), int(current), elapsed))


def sliding_window(key: str, limit: int) -> Decision:
    return sliding_windows([(key, limit)])


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
    limits = []
    if not request_counted:
        limits.append((f"all:{who}", rate * settings.RATE_LIMIT_ALL_REQUESTS_FACTOR))
    if model_request:
        limits.append((f"model:{who}", rate))
    return sliding_windows(limits) if limits else Decision(True, rate)


def refusal(decision: Decision, what: str = "requests") -> ServiceError:
    limit = "model_requests_per_minute" if what == "model requests" else "requests_per_minute"
    metrics.count(metrics.LIMIT_REFUSALS, limit)
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
