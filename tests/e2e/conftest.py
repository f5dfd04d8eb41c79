"""End-to-end fixtures: Debian's Chromium driven by Playwright against the real app under Daphne.

Every page a test opens records browser console errors, uncaught exceptions, failed requests and CSP violations;
the test fails on any of them at teardown. Screenshots of each step land in ``test-artifacts/e2e/<test>/``.
``axe_violations(page)`` runs axe-core (vendored in ``tests/e2e/vendor/``, never served) on what the page shows.
"""

import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from tests.conftest import use_models

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "e2e"
# Flags asked for by the deployment: headless, no sandbox (CI runs as root), no GPU, and no traffic of the
# browser's own (updates, sync, safe-browsing lists): the app is the only thing it talks to.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
# The impacts that fail a test; "moderate" and "minor" findings are reported by axe but are advice.
AXE_FAILING_IMPACTS = ("serious", "critical")

# Reports CSP violations to the console even if the browser would only count them.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + event.blockedURI);
});
"""


def in_orm_thread(function):
    """Run ORM code off this thread: Playwright's sync API keeps an event loop running here while it is open."""

    def run():
        try:
            return function()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def chromium_executable() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("Debian's chromium is not installed: run `sudo apt-get install chromium` (scripts/setup.sh does).")
    return path


@dataclass
class BrowserProblems:
    """What went wrong in the browser while a test ran; must stay empty."""

    items: list[str] = field(default_factory=list)
    # Exact problems a test provokes on purpose (a refused upload is logged by Chromium as a failed resource).
    expected: list[str] = field(default_factory=list)

    def expect(self, item: str) -> None:
        self.expected.append(item)

    def unexpected(self) -> list[str]:
        return [item for item in self.items if item not in self.expected]

    def watch(self, page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.items.append(f"uncaught: {error}"))
        page.on("requestfailed", self._request_failed)

    def _console(self, message) -> None:
        if message.type == "error":
            self.items.append(f"console: {message.text} ({message.location.get('url')})")

    def _request_failed(self, request) -> None:
        # A websocket or upload cut short by a navigation is normal browsing, not an application error.
        if request.failure not in ("net::ERR_ABORTED",):
            self.items.append(f"request failed: {request.method} {request.url} {request.failure}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item, so fixtures can tell at teardown whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def artifact_folder(request) -> Path:
    folder = ARTIFACTS / re.sub(r"[^\w-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser():
    """A fresh headless Chromium per test: Playwright's sync API keeps an event loop running while it is started,
    which Django's ORM (rightly) refuses to share a thread with, so it must not outlive the test."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def browser_problems():
    problems = BrowserProblems()
    yield problems
    assert problems.unexpected() == [], "the browser reported problems:\n" + "\n".join(problems.unexpected())


@pytest.fixture
def open_page(browser, browser_problems, request):
    """``open_page(base_url, viewport)`` → a watched page in its own context (own cookies)."""
    contexts = []

    def open_page(base_url: str, viewport: dict = DESKTOP):
        context = browser.new_context(base_url=base_url, viewport=viewport)
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        browser_problems.watch(page)
        return page

    yield open_page
    call_report = getattr(request.node, "report_call", None)
    for number, context in enumerate(contexts, start=1):
        if call_report is not None and call_report.failed:  # what the page showed when the test gave up
            for page in context.pages:
                page.screenshot(path=str(artifact_folder(request) / f"failure-{number}.png"))
        context.close()


@pytest.fixture
def screenshot(request):
    """``screenshot(page, "step name")`` saves ``test-artifacts/e2e/<test>/<nn>-<step>.png``: what the user sees
    (the viewport; a full-page capture would misplace the chat's sticky composer)."""
    shutil.rmtree(artifact_folder(request))
    folder = artifact_folder(request)
    count = 0

    def take(page, step: str, *, full_page: bool = False) -> Path:
        nonlocal count
        count += 1
        path = folder / f"{count:02d}-{re.sub(r'[^a-z0-9]+', '-', step.lower()).strip('-')}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


@pytest.fixture(scope="session")
def axe_source() -> str:
    return AXE.read_text()


@pytest.fixture
def axe_violations(axe_source):
    """``axe_violations(page)`` → the serious and critical WCAG 2.x A/AA violations on the page as it is now, one
    line each ("rule: target — summary"). axe goes in through the DevTools protocol (``page.evaluate``), which the
    page's CSP does not govern: a <script> tag would be refused, as it should be."""

    def run(page) -> list[str]:
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(axe_source)
        results = page.evaluate(
            """() => axe.run(document, {
              runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
              resultTypes: ["violations"],
            })"""
        )
        return [
            f"{violation['id']}: {' '.join(node['target'])} — {node['failureSummary'].splitlines()[-1].strip()}"
            for violation in results["violations"]
            if violation["impact"] in AXE_FAILING_IMPACTS
            for node in violation["nodes"]
        ]

    return run


def local_model_app(settings, llm_server_url: str, request, *, max_output_tokens: int) -> str:
    """Daphne + a Huey worker on the test database, answering with the local SmolLM2 model (for a test's
    ``live_app`` fixture: ``max_output_tokens`` is how long its answers may be)."""
    use_models(settings, llm_server_url, [settings.LLM_MODEL], max_output_tokens=max_output_tokens)
    request.getfixturevalue("huey_worker")
    return request.getfixturevalue("daphne_server")(settings.LLM_MODELS)
