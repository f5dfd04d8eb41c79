"""Text extraction in a bounded child process: every format, hostile input, invisible characters, and limits that
stop the reading part way (what was read is kept, and the note says which limit was hit)."""

import pytest
from django.conf import settings

from documents.extraction import ExtractionFailed, clean_text, cut_text, extract_file, html_blocks
from tests.documents.files import make_docx, make_pdf, pdf_bomb, pdf_with_bomb_page, pdf_with_slow_page


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


def pages_of(result) -> list[int]:
    return sorted({block["page"] for block in result.blocks})


def test_a_single_block_longer_than_the_cap_is_cut_at_a_sentence_not_dropped(tmp_path):
    one_paragraph = " ".join(f"Sentence number {i} says something about the sample." for i in range(200)).encode()
    result = extract(tmp_path, "one.txt", one_paragraph, "txt", max_chars=2000)
    assert len(result.blocks) == 1
    text = result.blocks[0]["text"]
    assert 1900 < len(text) <= 2000
    assert text.endswith("about the sample.")
    assert result.truncated is True
    assert result.note == "Only the first 2,000 characters were read: that is the limit per file."


def test_a_cut_ends_at_a_paragraph_sentence_or_word_near_the_limit():
    assert cut_text("Short.", 100) == "Short."
    assert cut_text("One two. Three four five six", 20) == "One two. Three four"
    assert cut_text("First part of it.\n\nSecond part goes on", 25) == "First part of it."
    assert cut_text("x" * 50, 20) == "x" * 20  # no boundary near: exactly at the limit


def test_a_pdf_past_the_page_cap_keeps_its_first_pages(tmp_path):
    result = extract(tmp_path, "a.pdf", make_pdf([f"Page {n} text." for n in range(1, 6)]), "pdf", max_pages=2)
    assert (pages_of(result), result.pages) == ([1, 2], 5)
    assert result.note == "Only pages 1–2 of 5 were read: at most 2 pages are read per PDF."


def test_a_pdf_past_the_character_cap_stops_at_the_page_that_reaches_it(tmp_path):
    pages = [f"Page {n}: " + "measured value " * 40 for n in range(1, 7)]  # about 610 characters each
    result = extract(tmp_path, "a.pdf", make_pdf(pages), "pdf", max_chars=1000)
    assert pages_of(result) == [1, 2]
    assert sum(len(block["text"]) for block in result.blocks) <= 1000
    assert result.note == "Only the first 1,000 characters were read (pages 1–2 of 6): that is the limit per file."


def test_a_pdf_page_past_a_pypdf_limit_keeps_the_pages_before_it(tmp_path):
    result = extract(tmp_path, "a.pdf", pdf_with_bomb_page(["Cover", "Budget: 4.2 million"]), "pdf")
    assert [block["text"] for block in result.blocks] == ["Cover", "Budget: 4.2 million"]
    assert result.note == (
        "Only pages 1–2 of 3 were read: page 3 is damaged or too complex to read (LimitReachedError)."
    )


def test_a_pdf_that_outlasts_the_time_budget_keeps_the_pages_read_in_time(tmp_path):
    result = extract(tmp_path, "a.pdf", pdf_with_slow_page(["Cover", "Budget: 4.2 million"]), "pdf", timeout=6)
    assert [block["text"] for block in result.blocks] == ["Cover", "Budget: 4.2 million"]
    assert result.pages == 3
    # Whichever bound strikes first: the wall clock (the parent) or processor time (the kernel).
    assert result.note in (
        "Only pages 1–2 of 3 were read: reading took longer than 6 s.",
        "Only pages 1–2 of 3 were read: reading used more processor time than allowed.",
    )


def test_a_pdf_whose_first_page_is_unreadable_fails_with_a_reason(tmp_path):
    with pytest.raises(ExtractionFailed, match=r"too complex to read \(page 1: LimitReachedError\)"):
        extract(tmp_path, "a.pdf", pdf_with_bomb_page([]), "pdf")
