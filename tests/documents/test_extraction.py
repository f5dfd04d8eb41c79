"""Text extraction in a bounded child process: every format, hostile input, invisible characters."""

import pytest
from django.conf import settings

from documents.extraction import ExtractionFailed, clean_text, extract_file, html_blocks
from tests.documents.files import make_docx, make_pdf, pdf_bomb


def extract(tmp_path, name: str, content: bytes, kind: str, **limits):
    path = tmp_path / name
    path.write_bytes(content)
    options = {"max_chars": 100_000, "timeout": 60, "memory_mb": settings.EXTRACTION_MEMORY_MB} | limits
    return extract_file(str(path), kind, **options)


def test_pdf_text_keeps_its_pages(tmp_path):
    result = extract(tmp_path, "a.pdf", make_pdf(["Cover", "Budget: 4.2 million", "Appendix"]), "pdf")
    assert result.pages == 3
    assert [(b["page"], b["text"]) for b in result.blocks][:2] == [(1, "Cover"), (2, "Budget: 4.2 million")]


def test_docx_headings_are_marked(tmp_path):
    content = make_docx([("Introduction", ["We begin."]), ("Results", ["It worked."])])
    blocks = extract(tmp_path, "a.docx", content, "docx").blocks
    assert [(b["level"], b["text"]) for b in blocks] == [
        (1, "Introduction"),
        (0, "We begin."),
        (1, "Results"),
        (0, "It worked."),
    ]


def test_markdown_headings_and_paragraphs(tmp_path):
    blocks = extract(tmp_path, "a.md", b"# Guide\n\nFirst.\n\n## Setup\n\nSecond.", "md").blocks
    assert [(b["level"], b["text"]) for b in blocks] == [(1, "Guide"), (0, "First."), (2, "Setup"), (0, "Second.")]


def test_html_keeps_the_main_text_only():
    html = """<html><head><title>Page</title><script>steal()</script><style>p{}</style></head><body>
      <nav><a>Home</a><a>About</a></nav><main><h1>News</h1><p>The actual story.</p></main>
      <footer>Copyright</footer></body></html>"""
    result = html_blocks(html)
    texts = [block["text"] for block in result.blocks]
    assert texts == ["News", "The actual story."]
    assert result.title == "Page"


def test_invisible_and_control_characters_are_stripped():
    assert clean_text("pay\u200bload\u2066 hidden\U000e0041 tag\x07 ok") == "payload hidden tag ok"


def test_a_corrupt_pdf_fails_with_a_readable_reason(tmp_path):
    with pytest.raises(ExtractionFailed, match="damaged"):
        extract(tmp_path, "bad.pdf", b"%PDF-1.4\nthis is not really a pdf at all", "pdf")


def test_a_decompression_bomb_fails_within_bounds(tmp_path):
    with pytest.raises(ExtractionFailed):
        extract(tmp_path, "bomb.pdf", pdf_bomb(400), "pdf", memory_mb=300, timeout=30)


def test_extracted_text_is_capped(tmp_path):
    content = "\n\n".join(f"Paragraph {i} " + "word " * 50 for i in range(100)).encode()
    result = extract(tmp_path, "long.txt", content, "txt", max_chars=2000)
    assert result.truncated is True
    assert sum(len(b["text"]) for b in result.blocks) <= 2000


def test_a_file_without_text_is_refused(tmp_path):
    with pytest.raises(ExtractionFailed, match="no readable text"):
        extract(tmp_path, "blank.txt", b"   \n\n  ", "txt")
