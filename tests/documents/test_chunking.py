from documents.chunking import chunk_blocks
from documents.embeddings import token_counts


def body(text: str, page: int | None = None) -> dict:
    return {"text": text, "page": page, "level": 0}


def heading(text: str, level: int = 1) -> dict:
    return {"text": text, "page": None, "level": level}


def test_chunks_keep_their_heading_path_and_never_span_sections():
    blocks = [heading("Guide"), heading("Install", 2), body("Run make."), heading("Use", 2), body("Open the page.")]
    chunks = chunk_blocks(blocks)
    assert [(c.heading_path, c.text) for c in chunks] == [
        ("Guide > Install", "Run make."),
        ("Guide > Use", "Open the page."),
    ]


def test_chunks_respect_the_token_limit_and_overlap():
    sentences = " ".join(f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(80))
    chunks = chunk_blocks([body(sentences, page=3)], limit=60, overlap=15)
    assert len(chunks) > 3
    assert all(c.token_count <= 60 for c in chunks)
    assert all(count <= 60 for count in token_counts([c.text for c in chunks]))
    assert all(c.page == 3 for c in chunks)
    # The tail of one chunk opens the next.
    assert chunks[1].text.split(". ")[0] in chunks[0].text


def test_paragraphs_are_packed_together_until_the_limit():
    chunks = chunk_blocks([body("Alpha."), body("Beta."), body("Gamma.")], limit=200)
    assert len(chunks) == 1
    assert chunks[0].text == "Alpha.\n\nBeta.\n\nGamma."


def test_a_hard_cut_keeps_the_original_text():
    # One "sentence" far over the limit with nothing to split on but token boundaries.
    run_on = " ".join(f"MixedCase{i}" for i in range(200))
    chunks = chunk_blocks([body(run_on)], limit=50, overlap=0)
    assert len(chunks) > 1
    assert " ".join(c.text for c in chunks) == run_on  # the tokenizer lowercases; the chunks do not
