"""The sources panel under an answer and the reader it leads to, in Chromium against the running app: on the local
model, an answer about a PDF lists its source with page and snippet, the reader opens at the marked passage and
the PDF opens inline; with a model that cites "[1]", the citation opens the panel at its source."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from playwright.sync_api import expect

from chat import services as chat_services
from documents import ingestion
from documents import services as document_services
from documents.models import Document
from tests.conftest import use_models
from tests.documents.files import make_pdf
from tests.e2e.conftest import DESKTOP, PHONE, in_orm_thread
from tests.e2e.test_chat_flow import HANDBOOK, QUESTION
from tests.e2e.test_pages import sideways_overflow, sign_in_by_keyboard
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def reader_with_handbook(username: str) -> Document:
    """A user with the handbook PDF read and ready, as the worker would leave it."""

    def make() -> Document:
        user = make_user(username=username)
        upload = SimpleUploadedFile("handbook.pdf", make_pdf(HANDBOOK))
        document = document_services.document_upload(owner=user, upload=upload)
        assert ingestion.ingest(document.pk).status == "ready"
        return document

    return in_orm_thread(make)


def check(page, axe_violations, screenshot, step: str) -> list[str]:
    """axe and the sideways-scroll check at phone and desktop widths; the problems found, each naming where."""
    problems = []
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        where = f"{step} {viewport['width']}px"
        problems += [f"{where}: {violation}" for violation in axe_violations(page)]
        problems += [f"{where}: sticks out: {node}" for node in sideways_overflow(page)]
        screenshot(page, where)
    return problems


@pytest.fixture
def live_app(settings, llm_server_url, daphne_server) -> str:
    use_models(settings, llm_server_url, [settings.LLM_MODEL], max_output_tokens=120)
    return daphne_server(settings.LLM_MODELS)


def test_an_answer_lists_its_sources_and_opens_the_reader_and_the_pdf(live_app, open_page, axe_violations, screenshot):
    document = reader_with_handbook("librarian")
    page = open_page(live_app)
    sign_in_by_keyboard(page, "librarian")
    page.get_by_role("textbox", name="Message").fill(QUESTION)
    page.keyboard.press("Enter")
    page.wait_for_selector('.message-assistant[data-status="complete"]', timeout=90_000)
    answer = page.locator(".message-assistant").first
    summary = answer.locator(".message-sources-summary")
    summary.wait_for(timeout=30_000)
    count = answer.locator(".message-sources li").count()
    assert count >= 1
    assert summary.inner_text() == f"Sources ({count})"
    assert answer.locator(".message-sources-panel").get_attribute("open") is None, "the panel starts closed"
    summary.click()

    source = answer.locator(".message-sources li").first
    expect(source).to_be_visible()
    assert source.get_attribute("id").startswith("source-")
    assert source.locator(".source-title").inner_text() == document.title
    assert source.locator(".source-where").inner_text() == "page 1"
    assert "yellow helmet" in source.locator("q.source-snippet").inner_text()
    original = source.get_by_role("link", name="Open the PDF at page 1")
    assert original.get_attribute("href") == f"/documents/{document.pk}/original/#page=1"
    problems = check(page, axe_violations, screenshot, "answer with its sources")
    page.emulate_media(color_scheme="dark")
    problems += check(page, axe_violations, screenshot, "answer with its sources dark")
    page.emulate_media(color_scheme="light")

    # The original: the PDF itself, shown inline under its own policy (fetched with the page's cookies).
    response = page.request.get(original.get_attribute("href"))
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("inline")
    assert "object-src 'self'" in response.headers["content-security-policy"]

    # The reader, at the cited passage.
    title_link = source.locator("a.source-title")
    chunk = re.search(r"\?chunk=(\d+)#chunk-(\d+)$", title_link.get_attribute("href"))
    assert chunk is not None
    assert chunk.group(1) == chunk.group(2)
    title_link.click()
    page.wait_for_url(f"**/documents/{document.pk}/read/?chunk={chunk.group(1)}#chunk-{chunk.group(1)}")
    mark = page.locator(f"mark#chunk-{chunk.group(1)}")
    expect(mark).to_be_in_viewport()
    assert "yellow helmet" in mark.inner_text()
    assert page.get_by_role("heading", name="Page 1").is_visible()
    assert page.get_by_role("link", name="All documents").get_attribute("href") == reverse("documents:list")
    problems += check(page, axe_violations, screenshot, "reader at the passage")
    page.emulate_media(color_scheme="dark")
    problems += check(page, axe_violations, screenshot, "reader dark")
    assert problems == [], "\n".join(problems)


@pytest.fixture
def citing_app(fake_llm, settings, daphne_server) -> str:
    from tests.fake_llm import MODELS

    use_models(settings, fake_llm.base_url, MODELS, max_output_tokens=30)
    return daphne_server(settings.LLM_MODELS)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_citation_opens_the_panel_at_its_source(citing_app, open_page, axe_violations, screenshot, viewport):
    user = reader_with_handbook("citer").owner
    conversation = in_orm_thread(lambda: chat_services.conversation_create(owner=user, model="fake-cite"))
    page = open_page(citing_app, viewport)
    sign_in_by_keyboard(page, "citer")
    page.goto(reverse("chat:conversation", args=[conversation.id]))
    page.get_by_role("textbox", name="Message").fill(QUESTION)
    page.keyboard.press("Enter")
    page.wait_for_selector('.message-assistant[data-status="complete"]')
    answer = page.locator(".message-assistant").first
    answer.locator(".message-sources-summary").wait_for()
    panel = answer.locator(".message-sources-panel")
    assert panel.get_attribute("open") is None

    page.evaluate("() => { window.beforeTheClick = true; }")
    answer.locator("a.citation", has_text="[1]").click()
    expect(panel).to_have_attribute("open", "")
    assert page.evaluate("() => window.beforeTheClick === true"), "the page was not reloaded"
    target = answer.locator(".message-sources li[value='1']")
    expect(target).to_be_in_viewport()
    assert page.evaluate("() => location.hash") == "#" + target.get_attribute("id")
    problems = check(page, axe_violations, screenshot, "citation opened the panel")
    assert problems == [], "\n".join(problems)
