"""A logging filter that keeps PII out of the logs: the same redaction the answers get (chat.safety.redaction).

Attached to the console handler, so it covers every logger, including lines that quote prompts or answers and the
tracebacks of errors raised while handling them.
"""

import logging

from django.conf import settings

from chat.safety.redaction import redact


class RedactPII(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(settings, "GUARDRAIL_REDACT_PII", True):
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
