"""The Batches page in Chromium on the local model and a real Huey worker: a CSV of prompts uploaded from the form
runs with its progress bar moving live, and its answers download as a CSV joined on the ids; a file the service
cannot run is refused in the form, naming what to fix."""

import csv
import io

import pytest

from batches.models import Batch
from tests.conftest import use_models
from tests.e2e.conftest import PHONE, in_orm_thread
from tests.e2e.test_chat_flow import sign_up
from tests.e2e.test_pages import sideways_overflow

pytestmark = pytest.mark.django_db(transaction=True)

QUESTIONS = [
    ("capital", "What is the capital of France?"),
    ("colour", "Name a colour of the sky."),
    ("count", "Count from one to five."),
    ("greet", "Say hello to a new colleague."),
    ("fruit", "Name a yellow fruit."),
    ("pet", "Name a common pet."),
]

# Every value the rows' data-done attribute takes, so the test sees the bar move without a reload.
RECORD_PROGRESS = """
window.__batchDone = [];
new MutationObserver((records) => {
  for (const record of records) window.__batchDone.push(Number(record.target.dataset.done));
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-done"] });
"""


@pytest.fixture
def live_app(settings, llm_server_url, daphne_server, request) -> str:
    use_models(settings, llm_server_url, [settings.LLM_MODEL], max_output_tokens=24)
    request.getfixturevalue("huey_worker")  # started after the models are set: it reads them from the environment
    return daphne_server(settings.LLM_MODELS)


def prompts_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "prompt"])
    writer.writerows(QUESTIONS)
    return out.getvalue().encode()


def test_a_csv_batch_runs_live_and_its_answers_download(live_app, open_page, screenshot, tmp_path, browser_problems):
    page = open_page(live_app)
    refused = f"{live_app}/api/v1/batches/"
    browser_problems.expect(
        f"console: Failed to load resource: the server responded with a status of 400 (Bad Request) ({refused})"
    )
    page.add_init_script(RECORD_PROGRESS)
    sign_up(page, "batcher")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Batches").click()
    page.wait_for_url("**/batches/")
    page.wait_for_function("() => !document.getElementById('no-batches').hidden")
    screenshot(page, "empty")

    page.get_by_label("Prompts file").set_input_files(
        {"name": "no-prompts.csv", "mimeType": "text/csv", "buffer": b"question\nhello\n"}
    )
    page.get_by_role("button", name="Start batch").click()
    form_error = page.locator("#batch-form [data-field=error]")
    form_error.wait_for(state="visible")
    page.wait_for_function("() => document.querySelector('#batch-form [data-field=error]').textContent !== ''")
    assert "'prompt' column" in form_error.inner_text()
    screenshot(page, "refused in the form")

    page.get_by_label("Prompts file").set_input_files(
        {"name": "questions.csv", "mimeType": "text/csv", "buffer": prompts_csv()}
    )
    page.get_by_label("Longest answer, in tokens (optional)").fill("16")
    page.get_by_role("button", name="Start batch").click()
    row = page.locator("#batches tbody tr").first
    row.wait_for()
    assert form_error.inner_text() == ""
    assert "questions.csv" in row.inner_text()
    page.wait_for_function(
        "() => document.querySelector('#batches tbody tr').dataset.status === 'completed'", timeout=180_000
    )
    screenshot(page, "completed")
    assert row.locator("progress").get_attribute("value") == "100"
    assert f"{len(QUESTIONS)} of {len(QUESTIONS)} done" in row.inner_text()
    seen = page.evaluate("() => window.__batchDone")
    assert len({value for value in seen if 0 < value < len(QUESTIONS)}) >= 2, seen  # it moved while running
    assert seen[-1] == len(QUESTIONS)

    with page.expect_download() as download:
        row.get_by_role("link", name="Results (CSV)").click()
    saved = tmp_path / "results.csv"
    download.value.save_as(saved)
    results = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert [result["id"] for result in results] == [identifier for identifier, _ in QUESTIONS]
    assert [result["prompt"] for result in results] == [prompt for _, prompt in QUESTIONS]
    assert all(result["status"] == "succeeded" for result in results)
    assert all(result["answer"].strip() for result in results)
    assert all(0 < int(result["completion_tokens"]) <= 16 for result in results)
    batch = in_orm_thread(lambda: Batch.objects.get(owner__username="batcher"))
    assert (batch.status, batch.completed, batch.failed) == ("completed", len(QUESTIONS), 0)

    page.set_viewport_size(PHONE)
    page.reload()
    page.locator("#batches tbody tr[data-status=completed]").wait_for()
    screenshot(page, "phone width", full_page=True)
    assert sideways_overflow(page) == [], "at phone width the page must not scroll sideways"
