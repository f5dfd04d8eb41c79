"""The reader (a document's text rebuilt from its chunks, the cited passage marked) and the original view."""

import html
import itertools
import re

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile

from documents import ingestion, reading, services
from documents.chunking import chunk_blocks
from documents.models import Chunk, Document
from documents.selectors import ChunkText
from documents.views import ORIGINAL_PDF_POLICY
from tests.documents.files import make_pdf
from tests.factories import make_user, session_client

PAGES = [
    "Lighthouse keeping manual.\nThe lamp is lit at dusk and put out at dawn.",
    "The keeper logs the weather every four hours.\nStorm shutters close above force nine.",
    "Appendix: the lens is cleaned on Sundays.",
]
MARK = re.compile(r'<mark id="chunk-(\d+)" class="reader-cited">(.*?)</mark>', re.DOTALL)


def paragraphs() -> list[str]:
    """Short paragraphs (packed whole) and long ones (split into sentences, which the overlap carries)."""
    texts = []
    for number in range(8):
        count = 2 if number % 3 == 0 else 9
        texts.append(
            " ".join(f"Finding {number}.{s} says the tide rose {s + number} centimetres." for s in range(count))
        )
    return texts


def as_chunk_texts(drafts) -> list[ChunkText]:
    return [ChunkText(number, draft.text, draft.page, draft.heading_path) for number, draft in enumerate(drafts, 1)]


def upload(user, name: str, content: bytes) -> Document:
    document = services.document_upload(owner=user, upload=SimpleUploadedFile(name, content))
    assert ingestion.ingest(document.pk).status == "ready", Document.objects.get(pk=document.pk).error
    return document


def test_it_gives_back_the_original_text_with_the_overlap_removed():
    original = paragraphs()
    drafts = chunk_blocks([{"text": text, "page": None, "level": 0} for text in original], limit=60, overlap=20)
    chunks = as_chunk_texts(drafts)
    shared = [reading.overlap(a.text, b.text) for a, b in itertools.pairwise(chunks)]
    assert sum(1 for length in shared if length) >= 3, "the chunker made overlapping chunks to undo"
    assert reading.text_of(reading.pages_of(chunks)) == "\n\n".join(original)


def test_it_finds_an_overlap_only_at_unit_boundaries():
    assert reading.overlap("One. Two. Three.", "Two. Three. Four.") == len("Two. Three.")
    assert reading.overlap("Alpha beta.", "beta. Gamma.") == len("beta.")
    assert reading.overlap("Alphabeta.", "beta. Gamma.") == 0, "half a word is not a shared unit"
    assert reading.overlap("First.", "Second.") == 0


def test_it_groups_the_text_by_page_and_section():
    blocks = [
        {"text": "Guide", "page": None, "level": 1},
        {"text": "Install", "page": None, "level": 2},
        {"text": "Run make.", "page": None, "level": 0},
        {"text": "Use", "page": None, "level": 2},
        {"text": "Open the page.", "page": None, "level": 0},
    ]
    pages = reading.pages_of(as_chunk_texts(chunk_blocks(blocks)))
    assert [page.number for page in pages] == [None]
    sections = pages[0].sections
    assert [(s.heading_path, s.heading, [g.text for g in s.segments]) for s in sections] == [
        ("Guide > Install", "Install", ["Run make."]),
        ("Guide > Use", "Use", ["Open the page."]),
    ]


@pytest.mark.django_db
def test_the_reader_shows_a_pdf_page_by_page():
    owner = make_user()
    document = upload(owner, "lighthouse.pdf", make_pdf(PAGES))
    pages = reading.document_reading(document=document).pages
    assert [page.number for page in pages] == [1, 2, 3]
    assert "lamp is lit at dusk" in reading.text_of(pages[:1])
    assert "Storm shutters" in reading.text_of(pages[1:2])
    page = session_client(owner).get(f"/documents/{document.pk}/read/").content.decode()
    assert [int(n) for n in re.findall(r"<h2 [^>]*>Page (\d+)</h2>", page)] == [1, 2, 3]
    assert f'href="/documents/{document.pk}/original/"' in page
    assert f'href="/documents/{document.pk}/download/"' in page
    assert 'href="/documents/"' in page
    assert "<mark" not in page, "nothing is marked without a chunk asked for"


@pytest.mark.django_db
def test_the_reader_marks_the_whole_cited_chunk_overlap_included(settings):
    settings.CHUNK_TOKENS, settings.CHUNK_OVERLAP_TOKENS = 60, 20
    owner = make_user()
    document = upload(owner, "tides.txt", "\n\n".join(paragraphs()).encode())
    chunks = list(Chunk.objects.filter(document=document).order_by("ordinal"))
    cited = next(
        later for earlier, later in itertools.pairwise(chunks) if reading.overlap(earlier.text, later.text)
    )  # a chunk that opens with the end of the one before it
    page = session_client(owner).get(f"/documents/{document.pk}/read/?chunk={cited.pk}").content.decode()
    marks = MARK.findall(page)
    assert [int(chunk_id) for chunk_id, _ in marks] == [cited.pk]
    assert html.unescape(marks[0][1]) == cited.text
    assert f'href="#chunk-{cited.pk}"' in page


@pytest.mark.django_db
def test_it_ignores_a_chunk_of_another_document():
    owner = make_user()
    document = upload(owner, "tides.txt", "\n\n".join(paragraphs()).encode())
    other = upload(owner, "lighthouse.pdf", make_pdf(PAGES))
    foreign = Chunk.objects.filter(document=other).first()
    for chunk in (str(foreign.pk), "not-a-number", "²"):
        response = session_client(owner).get(f"/documents/{document.pk}/read/", {"chunk": chunk})
        assert response.status_code == 200
        assert "<mark" not in response.content.decode()


@pytest.mark.django_db
def test_it_escapes_the_documents_text():
    owner = make_user()
    document = upload(owner, "hostile.txt", b'The manual says <script>alert("x")</script> and <b>bold</b> words.')
    page = session_client(owner).get(f"/documents/{document.pk}/read/").content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


@pytest.mark.django_db
def test_it_requires_read_access():
    owner, outsider, member = make_user(), make_user(), make_user()
    document = upload(owner, "lighthouse.pdf", make_pdf(PAGES))
    for url in (f"/documents/{document.pk}/read/", f"/documents/{document.pk}/original/"):
        assert session_client(outsider).get(url).status_code == 404, url
    group = Group.objects.create(name="keepers")
    member.groups.add(group)
    Document.objects.filter(pk=document.pk).update(visibility=Document.Visibility.GROUP, shared_group=group)
    assert session_client(member).get(f"/documents/{document.pk}/read/").status_code == 200
    assert session_client(outsider).get(f"/documents/{document.pk}/read/").status_code == 404
    assert session_client(member).get(f"/documents/{document.pk}/original/").status_code == 200


@pytest.mark.django_db
def test_a_pdf_original_is_shown_inline_under_its_own_policy():
    owner = make_user()
    content = make_pdf(PAGES)
    document = upload(owner, "lighthouse.pdf", content)
    response = session_client(owner).get(f"/documents/{document.pk}/original/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline")
    assert response["Content-Security-Policy"] == ORIGINAL_PDF_POLICY, "the site's page policy must not replace it"
    assert b"".join(response.streaming_content) == content


@pytest.mark.django_db
def test_another_kind_of_original_redirects_to_the_download():
    owner = make_user()
    document = upload(owner, "tides.txt", "\n\n".join(paragraphs()).encode())
    response = session_client(owner).get(f"/documents/{document.pk}/original/")
    assert response.status_code == 302
    assert response["Location"] == f"/documents/{document.pk}/download/"
