"""Optional OpenTelemetry spans: on only when OTEL_EXPORTER_OTLP_ENDPOINT is set and the packages are installed
(genaisite.observability sets the provider up). Off, ``span()`` is a no-op costing one attribute read.

Attributes come from bounded sets (a model's name, an entry point, an outcome, a URL pattern), never prompt or answer
text, a user or a key: a trace backend is one more place data would leak to.
"""

from collections.abc import Iterator
from contextlib import contextmanager

_tracer = None  # an opentelemetry Tracer once enabled


def enable(tracer) -> None:
    global _tracer
    _tracer = tracer


def enabled() -> bool:
    return _tracer is not None


@contextmanager
def span(name: str, **attributes: str | int | float | bool) -> Iterator[object | None]:
    """A span around the block; yields it (or ``None`` when tracing is off) so the caller can add an outcome."""
    if _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current
