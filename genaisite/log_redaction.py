"""A logging filter that keeps PII out of the logs: the same redaction the answers get (chat.safety.redaction).

Attached to the console handler, so it covers every logger, including lines that quote prompts or answers and the
tracebacks of errors raised while handling them. URLs need one step more (``redact_url``): in a query string a
phone number or an address is percent- or form-encoded ("%2B31+6+1234+5678", "ada%40example.com"), which the
redaction of plain text does not recognise.
"""

import logging
import re
from urllib.parse import quote_plus, unquote, unquote_plus

from django.conf import settings

from chat.safety.redaction import redact


def redaction_on() -> bool:
    return getattr(settings, "GUARDRAIL_REDACT_PII", True)


def redact_line(line: str) -> str:
    """A log line that does not come through logging (a child server's output), redacted the same way."""
    return redact(line) if redaction_on() else line


class RedactPII(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not redaction_on():
            return True
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


# A "+" before a digit that does not follow a letter or digit is most likely a phone's own plus that a client left
# unencoded ("call+me+at++31+6…"), not a space.
_LITERAL_PLUS = re.compile(r"(?<![A-Za-z0-9])\+(?=\d)")


def _redact_part(raw: str, *, form_encoded: bool) -> str:
    """One path or query part, unchanged unless one of its readings holds PII; then that reading, redacted and
    encoded again (so a decoded line break can never start a forged log line)."""
    readings = [unquote_plus(raw), unquote_plus(_LITERAL_PLUS.sub("%2B", raw))] if form_encoded else [unquote(raw)]
    for reading in readings:
        redacted = redact(reading)
        if redacted != reading:
            return quote_plus(redacted, safe="/[]:@,")
    return raw


def redact_url(target: str) -> str:
    """A request target ("/path?query") with PII in its path or in any query key or value replaced by a label."""
    path, mark, query = target.partition("?")
    path = _redact_part(path, form_encoded=False)
    if mark:
        pairs = (pair.partition("=") for pair in query.split("&"))
        query = "&".join(
            _redact_part(key, form_encoded=True) + equals + _redact_part(value, form_encoded=True)
            for key, equals, value in pairs
        )
    return path + mark + query
