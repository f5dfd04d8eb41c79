"""Embedded defaults started by `manage.py serve` (and by the tests) when no external service is configured."""


class EmbeddedServiceError(RuntimeError):
    """An embedded service could not start; the message says why and what to do."""
