"""A document's text to read, rebuilt from its chunks, with the passage a citation points at marked.

The chunker (documents/chunking.py) makes consecutive chunks of one section overlap: the last sentences or
paragraphs of a chunk open the next one, whole units joined by a space (same paragraph) or a blank line. Read in
order, that text would repeat; here each chunk contributes only what the one before it did not already show. A
chunk starts a new section (no overlap is possible) when its page or heading path changes.
"""

from dataclasses import dataclass, field

from documents import selectors
from documents.chunking import HEADING_SEPARATOR
from documents.models import Document

PARAGRAPH_BREAK = "\n\n"
# Units inside a chunk are joined by one of these; an overlap always ends just before one of them.
_SEPARATORS = (" ", "\n")


@dataclass(frozen=True)
class Segment:
    text: str
    chunk_id: int | None = None  # set on the marked segment only: the anchor the citation link scrolls to


@dataclass
class Section:
    heading_path: str
    segments: list[Segment] = field(default_factory=list)

    @property
    def heading(self) -> str:
        return self.heading_path.rsplit(HEADING_SEPARATOR, 1)[-1]


@dataclass
class Page:
    number: int | None  # None for a document without pages (text, Markdown, Word, HTML)
    sections: list[Section] = field(default_factory=list)


@dataclass(frozen=True)
class Reading:
    document: Document
    pages: list[Page]
    marked_chunk_id: int | None  # None when no chunk was asked for, or it is not one of this document's


def overlap(previous: str, text: str) -> int:
    """How many characters at the start of ``text`` end ``previous``: the longest proper prefix of ``text`` that
    ends at a unit boundary and is a suffix of ``previous`` starting at one. 0 when they do not overlap."""
    for end in range(min(len(text), len(previous)) - 1, 0, -1):
        if text[end] not in _SEPARATORS:
            continue
        start = len(previous) - end
        if (start == 0 or previous[start - 1] in _SEPARATORS) and previous.endswith(text[:end]):
            return end
    return 0


def _section_segments(chunks: list[selectors.ChunkText], marked: int | None) -> list[Segment]:
    """The section's text read once, split around the marked chunk's span (which may reach back into what the
    chunks before it showed: the overlap belongs to the cited passage too)."""
    text, span = "", None
    for index, chunk in enumerate(chunks):
        shared = overlap(chunks[index - 1].text, chunk.text) if index else 0
        if index and not shared:
            # No overlap: the chunker began a new unit here. A blank line is its usual separator (the exact one,
            # a space inside a long paragraph, is not stored).
            text += PARAGRAPH_BREAK
        start = len(text) - shared
        text += chunk.text[shared:]
        if chunk.id == marked:
            span = (start, len(text))
    if span is None:
        return [Segment(text)]
    before, cited, after = text[: span[0]], text[span[0] : span[1]], text[span[1] :]
    return [piece for piece in (Segment(before), Segment(cited, marked), Segment(after)) if piece.text]


def pages_of(chunks: list[selectors.ChunkText], marked: int | None = None) -> list[Page]:
    """Chunks in reading order grouped into pages, and each page into sections of consecutive chunks under one
    heading path."""
    pages: list[Page] = []
    runs: list[list[selectors.ChunkText]] = []  # the chunks of each section, in the order sections are made
    for chunk in chunks:
        if not pages or pages[-1].number != chunk.page:
            pages.append(Page(chunk.page))
        sections = pages[-1].sections
        if sections and sections[-1].heading_path == chunk.heading_path:
            runs[-1].append(chunk)
        else:
            sections.append(Section(chunk.heading_path))
            runs.append([chunk])
    for section, run in zip((section for page in pages for section in page.sections), runs, strict=True):
        section.segments = _section_segments(run, marked)
    return pages


def text_of(pages: list[Page]) -> str:
    """The whole text as read, sections separated by a blank line."""
    return PARAGRAPH_BREAK.join(
        "".join(segment.text for segment in section.segments) for page in pages for section in page.sections
    )


def document_reading(*, document: Document, chunk_id: int | None = None) -> Reading:
    chunks = selectors.document_chunks(document=document)
    marked = chunk_id if any(chunk.id == chunk_id for chunk in chunks) else None
    return Reading(document=document, pages=pages_of(chunks, marked), marked_chunk_id=marked)
