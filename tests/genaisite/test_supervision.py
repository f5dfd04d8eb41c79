"""The restart policy on its own: backoff doubling while a child keeps dying, reset once it stays up."""

from genaisite.embedded import supervision


class FakeChild:
    """A process stand-in: ``code`` is what exit_code() reports; start() brings it back."""

    def __init__(self, name: str) -> None:
        self.name, self.code, self.starts = name, None, 0
        self.pid = 4000

    def exit_code(self):
        return self.code

    def start(self) -> None:
        self.starts += 1
        self.code = None
        self.pid += 1


def test_a_dead_child_is_restarted_after_a_doubling_backoff_and_the_others_are_left_alone():
    now = [0.0]
    worker, web, lines = FakeChild("worker"), FakeChild("web"), []
    supervisor = supervision.Supervisor([worker, web], lines.append, clock=lambda: now[0])
    supervisor.check()
    worker.code = -9
    delays = []
    for _ in range(4):
        supervisor.check()  # notices the death, schedules the restart
        delay = supervisor.watches["worker"].restart_at - now[0]
        delays.append(delay)
        now[0] += delay
        supervisor.check()  # restarts it
        assert worker.code is None
        now[0] += 1  # dies again right away
        worker.code = 1
    assert delays == [1, 2, 4, 8]
    assert worker.starts == 4
    assert web.starts == 0, "the healthy child was never touched"
    assert any("worker restarted (restart 4)" in line for line in lines)


def test_the_backoff_resets_once_a_child_has_stayed_up():
    now = [0.0]
    worker = FakeChild("worker")
    supervisor = supervision.Supervisor([worker], lambda line: None, clock=lambda: now[0])
    for _ in range(6):  # crash-loop up to the cap
        worker.code = 1
        supervisor.check()
        now[0] = supervisor.watches["worker"].restart_at
        supervisor.check()
    assert supervisor.watches["worker"].delay == supervision.MAX_DELAY
    now[0] += supervision.STABLE_AFTER
    supervisor.check()
    assert supervisor.watches["worker"].delay == supervision.FIRST_DELAY


def test_it_reports_the_pid_of_a_dead_child_once_before_restarting_it():
    now = [0.0]
    worker, dead = FakeChild("worker"), []
    supervisor = supervision.Supervisor([worker], lambda line: None, clock=lambda: now[0], on_exit=dead.append)
    supervisor.check()
    worker.code = -9
    supervisor.check()
    supervisor.check()  # still waiting out its backoff: not reported again
    assert dead == [4000]
    now[0] = supervisor.watches["worker"].restart_at
    supervisor.check()
    worker.code = 1
    supervisor.check()
    assert dead == [4000, 4001], "the restarted process is reported under its own pid"
