"""Keep the stack's children running: a child that dies on its own is restarted, with backoff, and the rest keep
serving meanwhile (a crashed worker must not take every user's open answer down with it).

The backoff doubles from ``FIRST_DELAY`` to ``MAX_DELAY`` while a child keeps dying soon after each start, and
resets once it has stayed up for ``STABLE_AFTER``: a child that crashed once last week restarts at once today.
"""

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from genaisite.embedded.processes import ManagedProcess

FIRST_DELAY = 1.0  # seconds
MAX_DELAY = 30.0
STABLE_AFTER = 60.0


@dataclass
class _Watch:
    started_at: float
    delay: float = FIRST_DELAY
    restart_at: float | None = None  # set while the child is down and waiting for its restart
    restarts: int = 0


class Supervisor:
    def __init__(
        self,
        children: list[ManagedProcess],
        write: Callable[[str], None],
        clock=time.monotonic,
        state_file: Path | None = None,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        self.children = children
        self.write = write
        self.clock = clock
        self.state_file = state_file  # where /readyz reads each child's state (the web process cannot see them)
        self.watches: dict[str, _Watch] = {}
        # Told the pid of each child that died, before it is restarted (core.metrics: its live gauges stop counting).
        self.on_exit = on_exit

    def _watch(self, child: ManagedProcess) -> _Watch:
        return self.watches.setdefault(child.name, _Watch(started_at=self.clock()))

    def check(self) -> None:
        """One round: note children that died, restart those whose backoff has passed."""
        now = self.clock()
        for child in self.children:
            watch = self._watch(child)
            if watch.restart_at is None:
                code = child.exit_code()
                if code is None:
                    if now - watch.started_at >= STABLE_AFTER:
                        watch.delay = FIRST_DELAY
                    continue
                watch.restart_at = now + watch.delay
                if self.on_exit is not None and child.pid is not None:
                    self.on_exit(child.pid)
                self.write(f"{child.name} exited unexpectedly with code {code}; restarting it in {watch.delay:.0f} s")
            elif now >= watch.restart_at:
                self._restart(child, watch, now)
        if self.state_file is not None:
            self._publish()

    def _publish(self) -> None:
        states = {
            child.name: {"state": state, "restarts": self._watch(child).restarts}
            for child, state in zip(self.children, self.states().values(), strict=True)
        }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self.state_file.with_suffix(".tmp")
        partial.write_text(json.dumps(states))
        os.replace(partial, self.state_file)  # readers never see half a file

    def _restart(self, child: ManagedProcess, watch: _Watch, now: float) -> None:
        try:
            child.start()
        except OSError as exc:  # the binary is gone, the disk is full: try again later, louder
            self.write(f"{child.name} could not be restarted ({exc}); trying again in {watch.delay:.0f} s")
            watch.restart_at = now + watch.delay
        else:
            watch.restarts += 1
            watch.started_at, watch.restart_at = now, None
            self.write(f"{child.name} restarted (restart {watch.restarts})")
        watch.delay = min(MAX_DELAY, watch.delay * 2)

    def states(self) -> dict[str, str]:
        """Each child: "running", or "restarting" while it waits out its backoff."""
        return {child.name: "running" if child.exit_code() is None else "restarting" for child in self.children}
