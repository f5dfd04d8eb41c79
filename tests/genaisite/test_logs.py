"""Logs of every process `manage.py serve` starts: each line has the time of day, and no line carries PII — the web
server's access log (query strings decoded first) included."""

import logging
import re
import sys
import urllib.request

import pytest

from genaisite.embedded.processes import ManagedProcess, wait_for_http
from genaisite.embedded.stack import llm_log_line
from genaisite.log_redaction import redact_url
from genaisite.webserver import AccessLog, web_server_command
from tests.conftest import BASE_DIR, free_port, wait_until

# logging's asctime, as LOGGING's format puts it first: "2026-12-01 18:54:46,123 ".
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
# What continues a multi-line record (a traceback, huey's list of tasks) rather than starting one.
CONTINUATION = re.compile(r"^(\s|\+ |Traceback )")
PHONE_QUERY = "/api/v1/conversations/?search=call+me+at++31+6+1234+5678"


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        (PHONE_QUERY, "/api/v1/conversations/?search=call+me+at+[phone+redacted]"),
        (
            "/api/v1/conversations/?search=%2B31%206%201234%205678&limit=20",
            "/api/v1/conversations/?search=[phone+redacted]&limit=20",
        ),
        ("/accounts/?email=ada.moreau%40example.com", "/accounts/?email=[email+redacted]"),
        ("/accounts/?email=ada.moreau@example.com&next=/chat/", "/accounts/?email=[email+redacted]&next=/chat/"),
        ("/users/ada.moreau%40example.com/keys", "/users/[email+redacted]/keys"),
        ("/api/v1/documents/?limit=20&offset=40&mine=1", "/api/v1/documents/?limit=20&offset=40&mine=1"),
        ("/static/app.js?v=2026-12-01T18:54:46", "/static/app.js?v=2026-12-01T18:54:46"),
        ("/x?q=hi%0Aforged+ada@example.com", "/x?q=hi%0Aforged+[email+redacted]"),  # a line break stays encoded
    ],
)
def test_it_redacts_pii_in_paths_and_encoded_query_strings(target, logged):
    assert redact_url(target) == logged


def test_an_access_log_line_is_redacted_and_keeps_its_timestamp(console_log):
    details = {"client": "127.0.0.1:51234", "method": "GET", "path": PHONE_QUERY, "status": 200, "size": 512}
    AccessLog()("http", "complete", details)
    AccessLog()("websocket", "connected", {"client": "127.0.0.1:51235", "path": "/ws/chat/?email=ada%40example.com"})
    lines = console_log.getvalue().splitlines()
    assert len(lines) == 2
    assert all(TIMESTAMP.match(line) for line in lines), lines
    assert lines[0].endswith(
        'INFO daphne.access: 127.0.0.1:51234 "GET /api/v1/conversations/?search=call+me+at+[phone+redacted]" 200 512'
    )
    assert lines[1].endswith('"WSCONNECT /ws/chat/?email=[email+redacted]" - -')


def test_timestamps_survive_the_pii_filter(console_log):
    logging.getLogger("chat.generation").warning("at 2026-12-01 18:54:46 a user wrote: call me on 06 1234 5678")
    line = console_log.getvalue().strip()
    assert TIMESTAMP.match(line), line
    assert line.endswith("at 2026-12-01 18:54:46 a user wrote: call me on [phone redacted]")


def test_the_llm_servers_lines_get_the_time_of_day_and_redaction(tmp_path):
    script = "print('0.25.391.453 I slot launch_slot_: id  7 | task 0'); print('prompt: mail ada@example.com')"
    log_file = tmp_path / "llm.log"
    child = ManagedProcess(
        "llm", [sys.executable, "-c", script], env={}, cwd=BASE_DIR, log_file=log_file, line_filter=llm_log_line
    )
    child.start()
    assert wait_until(lambda: child.exit_code() is not None, timeout=20)
    child.stop()
    lines = log_file.read_text().splitlines()
    assert [TIMESTAMP.sub("", line) for line in lines] == [
        "0.25.391.453 I slot launch_slot_: id  7 | task 0",
        "prompt: mail [email redacted]",
    ]
    assert all(TIMESTAMP.match(line) for line in lines)


@pytest.mark.django_db(transaction=True)
def test_the_web_server_and_worker_write_timestamped_lines_and_no_pii(subprocess_env, tmp_path):
    """The real processes, started with the commands `manage.py serve` uses."""
    from huey.contrib.djhuey import HUEY

    HUEY.flush()  # tasks other tests left would only make the worker's log longer
    port = free_port()
    web = ManagedProcess(
        "web",
        web_server_command(host="127.0.0.1", port=port),
        env=subprocess_env,
        cwd=BASE_DIR,
        log_file=tmp_path / "web.log",
    )
    worker = ManagedProcess(
        "worker",
        [sys.executable, str(BASE_DIR / "manage.py"), "run_huey", "--flush-locks"],
        env=subprocess_env,
        cwd=BASE_DIR,
        log_file=tmp_path / "worker.log",
    )
    web.start()
    worker.start()
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/healthz", process=web, timeout=60)
        for target in ("/healthz?search=call+me+at++31+6+1234+5678", "/healthz?who=ada.moreau%40example.com"):
            with urllib.request.urlopen(base + target, timeout=10) as response:
                assert response.status == 200
        assert wait_until(lambda: "who=" in (tmp_path / "web.log").read_text(), timeout=10)
        assert wait_until(lambda: "consumer" in (tmp_path / "worker.log").read_text().lower(), timeout=60)
    finally:
        web.stop()
        worker.stop()
    web_log = (tmp_path / "web.log").read_text()
    for name, log in (("web", web_log), ("worker", (tmp_path / "worker.log").read_text())):
        lines = [line for line in log.splitlines() if line.strip()]
        assert lines, f"{name} logged nothing"
        untimed = [line for line in lines if not TIMESTAMP.match(line) and not CONTINUATION.match(line)]
        assert TIMESTAMP.match(lines[0]), f"{name}: {lines[0]}"
        assert not untimed, f"{name}: lines without a time in\n{log}"
    assert '"GET /healthz?search=call+me+at+[phone+redacted]" 200' in web_log
    assert '"GET /healthz?who=[email+redacted]" 200' in web_log
    assert "1234" not in web_log
    assert "moreau" not in web_log
