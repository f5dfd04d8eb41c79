"""`make run` on a fresh data directory: the web comes up at once, the built-in models are trained by a child
process meanwhile (predictions answer 503 "not loaded yet" until then) and serve afterwards; the second start
trains nothing."""

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import BASE_DIR, manage_py
from tests.genaisite.test_serve import Server, wait_for_line
from tests.ml.builders import HOUSE


@pytest.fixture
def server(tmp_path):
    server = Server(tmp_path / "var")
    server.env["ML_ENSURE_BUILTINS"] = "true"
    yield server
    if getattr(server, "process", None) and server.process.poll() is None:
        server.process.kill()


def predict(server: Server, key: str, name: str, inputs: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/api/v1/ml/{name}/predict/",
        data=json.dumps({"inputs": inputs}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def predict_when_ready(server: Server, key: str, name: str, inputs: dict, timeout: float = 120) -> list[int]:
    """Every status seen until the model answers 200 (or the time is up)."""
    statuses, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = predict(server, key, name, inputs)
        statuses.append(status)
        if status == 200:
            return statuses
        assert (status, body["error"]["code"]) == (503, "model_not_loaded"), body
        time.sleep(0.5)
    return statuses


def test_the_first_start_trains_the_builtins_in_the_background_and_serves_them(server):
    server.start()
    server.wait_ready()
    log = server.log.read_text()
    assert "ml         training house-price, text-topic in the background" in log
    key = subprocess.run(
        manage_py("create_api_key", "admin", "--scopes", "ml"), env=server.env, cwd=BASE_DIR, capture_output=True,
        text=True, check=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip

    assert predict_when_ready(server, key, "house-price", HOUSE)[-1] == 200
    statuses = predict_when_ready(server, key, "text-topic", {"text": "Where is my parcel? Tracking shows nothing."})
    status, topic = predict(server, key, "text-topic", {"text": "Where is my parcel? Tracking shows nothing."})
    assert statuses[-1] == status == 200
    assert topic["predictions"][0]["label"] == "shipping"
    # Trained by the child process, whose log is its own: the web process only loads and predicts.
    assert wait_for_line(Path(server.env["DATA_DIR"]) / "log" / "ml-training.log", "registered text-topic v1")

    assert server.interrupt() == 0
    server.start()
    server.wait_ready()
    second_log = server.log.read_text()
    assert "ml         training" not in second_log, "the second start finds the trained versions"
    assert wait_for_line(server.log, "ml: 2 production version(s) preloaded")  # by each web process
    assert predict(server, key, "house-price", HOUSE)[0] == 200
    assert server.interrupt() == 0
