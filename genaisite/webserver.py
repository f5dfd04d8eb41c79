"""The web server: Daphne, with its access log written through logging.

Daphne's own access log prints each request line (the query string included) straight to stdout: no timestamp
format of ours and no PII filter, so a search for "call me at +31 6 1234 5678" would land in the log as typed. Here
each entry becomes a record of the ``daphne.access`` logger, which LOGGING sends through the same handler, format
(asctime first) and ``RedactPII`` filter as every other line, after ``redact_url`` has decoded and redacted the
URL. ``--access-log FILE`` still writes Daphne's own format to that file, with the URL redacted.

Run ``python -m genaisite.webserver`` with Daphne's arguments (``manage.py serve`` and the image do).
"""

import asyncio
import logging
import sys
from datetime import datetime
from typing import TextIO

from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface
from daphne.server import Server
from django.conf import settings
from twisted.internet import defer

from genaisite.log_redaction import redact_url, redaction_on

access_logger = logging.getLogger("daphne.access")
logger = logging.getLogger(__name__)


def redact_request(request: str) -> str:
    """Daphne's "METHOD /target" (or "WSCONNECT /target"), the target redacted."""
    if not redaction_on():
        return request
    method, space, target = request.partition(" ")
    return method + space + redact_url(target) if space else redact_url(request)


class AccessLog(AccessLogGenerator):
    """Daphne's access log entries, to the ``daphne.access`` logger, or in Daphne's format to a file of their own."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)

    def write_entry(
        self,
        host: str | None,
        date: datetime,
        request: str,
        status: int | None = None,
        length: int | None = None,
        ident: str | None = None,
        user: str | None = None,
    ) -> None:
        request = redact_request(request)
        if self.stream is not None:
            super().write_entry(host, date, request, status, length, ident, user)
            return
        # The record's own time stands in for Daphne's ``date``, formatted like every other line's.
        access_logger.info('%s "%s" %s %s', host or "-", request, status or "-", length or "-")


class LoggedServer(Server):
    def __init__(self, *args, action_logger=None, **kwargs) -> None:
        # Daphne's command line builds its own access log (to stdout unless --access-log names a file): ours
        # replaces it, and "-v 0" (none at all) stays none.
        if isinstance(action_logger, AccessLogGenerator):
            to_file = action_logger.stream not in (sys.stdout, None)
            action_logger = AccessLog(action_logger.stream if to_file else None)
        super().__init__(*args, action_logger=action_logger, **kwargs)
        self.ports: list = []

    def listen_success(self, port) -> None:
        self.ports.append(port)
        super().listen_success(port)
        if len(self.ports) == 1:
            from ml import serving  # here: the ASGI application (and Django) is loaded by now

            # The production ML versions, loaded beside serving rather than before it: a request that comes first
            # loads what it needs itself.
            serving.preload_in_background()

    def kill_all_applications(self) -> defer.Deferred:
        """Shutting down (SIGTERM): drain before Daphne cancels every connection, so clients get their answers' final
        events and no answer is left ``streaming`` for the reaper (nor its conversation busy)."""
        return defer.Deferred.fromFuture(asyncio.ensure_future(self._drain_then_close()))

    async def _drain_then_close(self) -> None:
        for port in self.ports:
            port.stopListening()  # new connections go to the other web processes (or wait for the restart)
        from chat.generation import engine  # here: the ASGI application (and Django) is loaded by now

        stopped = await engine.drain(settings.WEB_DRAIN_SECONDS)
        if stopped:
            logger.warning("shutting down: %d answer(s) stopped and saved", stopped)
        await asyncio.sleep(0.2)  # the final frames leave before their connections are closed
        await super().kill_all_applications().asFuture(asyncio.get_running_loop())


class WebServerCommand(CommandLineInterface):
    server_class = LoggedServer


def web_server_command(
    *, host: str = "", port: int = 0, fd: int | None = None, extra: tuple[str, ...] = ()
) -> list[str]:
    """Listening on ``host``:``port``, or on an inherited listening socket ``fd`` (several processes share one: the
    kernel hands each new connection to one of them)."""
    where = ["--fd", str(fd)] if fd is not None else ["--bind", host, "--port", str(port)]
    return [sys.executable, "-m", "genaisite.webserver", *where, *extra, "genaisite.asgi:application"]


if __name__ == "__main__":
    WebServerCommand.entrypoint()
