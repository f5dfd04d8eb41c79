"""The id of the request being served, for log lines: set by the web's middleware (from X-Request-ID or made up),
carried into Huey tasks by genaisite.observability, read by the log formatter. A contextvar, so concurrent requests of
one async process never see each other's."""

import re
import uuid
from contextvars import ContextVar, Token

_current: ContextVar[str] = ContextVar("request_id", default="")
# What a client or proxy may hand us: short, and nothing that could forge a log line or a JSON field.
ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def get() -> str:
    return _current.get()


def use(value: str) -> Token:
    return _current.set(value)


def reset(token: Token) -> None:
    _current.reset(token)


def accepted_or_new(sent: str | None) -> str:
    return sent if sent and ACCEPTED.fullmatch(sent) else uuid.uuid4().hex
