"""Child processes started by `manage.py serve`: started in their own session, stopped in order, never orphaned."""

import ctypes
import logging
import os
import pwd
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the launcher is killed outright (SIGKILL), the kernel sends the
    # child SIGTERM instead of leaving it running with nobody to stop it.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def timestamped(line: str) -> str:
    """``line`` after the wall-clock time, in the format of our own log lines (logging's asctime)."""
    return f"{datetime.now():%Y-%m-%d %H:%M:%S,%f}"[:-3] + " " + line


def _copy_lines(source: BinaryIO, sink: BinaryIO, line_filter: Callable[[str], str]) -> None:
    with source, sink:
        for raw in iter(source.readline, b""):
            sink.write(line_filter(raw.decode(errors="replace")).encode())
            sink.flush()


class ManagedProcess:
    """``line_filter``, with a ``log_file``: each line of output passes through it on its way to the file (read by a
    thread of the launcher), e.g. to give a server that logs only its uptime the time of day. ``user``: the system
    user the process runs as (with that user's group and no other), when the launcher is root."""

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        log_file: Path | None = None,
        line_filter: Callable[[str], str] | None = None,
        pass_fds: tuple[int, ...] = (),
        user: str | None = None,
    ):
        self.name = name
        self.command = command
        self.env = env
        self.cwd = cwd
        self.log_file = log_file
        self.line_filter = line_filter
        self.pass_fds = pass_fds  # open descriptors the child inherits (the web servers' shared listening socket)
        self.user = user
        self.process: subprocess.Popen | None = None
        self._copier: threading.Thread | None = None

    def start(self) -> None:
        output = None
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            output = self.log_file.open("ab")
        piped = output is not None and self.line_filter is not None
        # Credentials change before preexec_fn runs, so the parent-death signal it sets is not cleared by them.
        account = pwd.getpwnam(self.user) if self.user else None
        credentials = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []} if account else {}
        # A session of its own: Ctrl-C in the terminal reaches only the launcher, which stops children in order.
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE if piped else output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            pass_fds=self.pass_fds,
            **credentials,
        )
        if piped:
            self._copier = threading.Thread(
                target=_copy_lines,
                args=(self.process.stdout, output, self.line_filter),
                name=f"log-{self.name}",
                daemon=True,
            )
            self._copier.start()
        elif output is not None:
            output.close()

    def drain(self) -> None:
        """Wait (briefly) until what an exited process wrote is in its log file."""
        if self._copier is not None:
            self._copier.join(2)

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM) without waiting: several can wind down at the same time."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self._terminated = self.process

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if getattr(self, "_terminated", None) is not self.process:  # asked once is enough (Twisted: twice errs)
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0f s; killing it", self.name, timeout)
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.drain()


def wait_for_http(
    url: str, *, process: ManagedProcess, timeout: float, while_waiting: Callable[[], None] | None = None
) -> None:
    """Poll ``url`` until it answers 200; fail early if the process behind it exits. ``while_waiting`` runs between
    polls (serve keeps its children's state file fresh with it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if while_waiting is not None:
            while_waiting()
        code = process.exit_code()
        if code is not None:
            raise RuntimeError(f"{process.name} exited with code {code} while starting{_log_hint(process)}")
        try:
            # Only our own loopback http URLs reach here (built from settings), never user input.
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not answer {url} within {timeout:.0f} s{_log_hint(process)}")


def log_tail(log_file: Path, lines: int = 3) -> str:
    """The last ``lines`` of a server's log on one line, for an error message that says why it did not start."""
    try:
        return " | ".join(log_file.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "no server log"


def _log_hint(process: ManagedProcess) -> str:
    if process.log_file is None or not process.log_file.exists():
        return ""
    process.drain()
    return f" (log {process.log_file}: {log_tail(process.log_file)})"
