"""Token-aware chunking with the embedding model's own tokenizer.

Splits at headings first (a chunk never spans two sections), then at paragraphs, then sentences, and only then cuts
hard, on token boundaries of the original text. Consecutive chunks of a section overlap by a few sentences so an
answer that straddles a boundary is still found. Each chunk keeps its page (PDF) and heading path.
"""

import itertools
import re
from dataclasses import dataclass

from django.conf import settings

from documents import embeddings

HEADING_SEPARATOR = " > "  # between the headings of a chunk's heading path (documents/reading.py splits on it)

_SENTENCE_END = re.compile(r"(?<=[.!?…。])\s+(?=[\"'“(\[]?[A-ZÀ-Ý0-9])")


@dataclass
class Unit:
    text: str
    tokens: int
    page: int | None
    paragraph: int  # pieces of one paragraph are rejoined with a space, paragraphs with a blank line


@dataclass
class ChunkDraft:
    text: str
    page: int | None
    heading_path: str
    token_count: int


def _count(texts: list[str]) -> list[int]:
    if not texts:
        return []
    return embeddings.token_counts(texts)


def _hard_cut(text: str, limit: int) -> list[str]:
    """Cut on token boundaries, preferring the last word boundary in each window, keeping the original characters
    (the tokenizer lowercases; its offsets point into the original text)."""
    offsets = embeddings.token_offsets(text)
    pieces, start = [], 0
    while start < len(offsets):
        end = min(start + limit, len(offsets))  # exclusive
        if end < len(offsets):
            for candidate in range(end, start + limit // 2, -1):
                if offsets[candidate][0] > offsets[candidate - 1][1]:  # whitespace between two tokens
                    end = candidate
                    break
        pieces.append(text[offsets[start][0] : offsets[end - 1][1]].strip())
        start = end
    return [piece for piece in pieces if piece]


def _units(text: str, tokens: int, page: int | None, limit: int, paragraph: int) -> list[Unit]:
    """A paragraph as one unit when it fits, else its sentences, else hard cuts."""
    if tokens <= limit:
        return [Unit(text, tokens, page, paragraph)]
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    units = []
    for sentence, count in zip(sentences, _count(sentences), strict=True):
        if count <= limit:
            units.append(Unit(sentence, count, page, paragraph))
        else:
            pieces = _hard_cut(sentence, limit)
            units += [Unit(p, n, page, paragraph) for p, n in zip(pieces, _count(pieces), strict=True)]
    return units


def _sections(blocks: list[dict]) -> list[tuple[str, list[dict]]]:
    """Body blocks grouped under their heading path; a new page also starts a section, so every chunk has one
    page and a citation can name it exactly."""
    headings: list[str] = []
    sections: list[tuple[str, list[dict]]] = []
    path = ""
    for block in blocks:
        level = block.get("level") or 0
        if level:
            headings = [*headings[: level - 1], block["text"][:120]]
            path = HEADING_SEPARATOR.join(headings)
            sections.append((path, []))
            continue
        current = sections[-1][1] if sections else None
        if current is None or (current and current[-1].get("page") != block.get("page")):
            sections.append((path, []))
        sections[-1][1].append(block)
    return [(path, body) for path, body in sections if body]


def _pack(units: list[Unit], path: str, limit: int, overlap: int) -> list[ChunkDraft]:
    chunks: list[ChunkDraft] = []
    current: list[Unit] = []

    def emit() -> None:
        text = current[0].text
        for previous, unit in itertools.pairwise(current):
            text += (" " if unit.paragraph == previous.paragraph else "\n\n") + unit.text
        chunks.append(ChunkDraft(text, current[0].page, path, sum(unit.tokens for unit in current)))

    for unit in units:
        if current and sum(u.tokens for u in current) + unit.tokens > limit:
            emit()
            carried: list[Unit] = []
            for previous in reversed(current):  # overlap: the tail of the last chunk starts the next
                if sum(u.tokens for u in carried) + previous.tokens > overlap:
                    break
                carried.insert(0, previous)
            current = carried if sum(u.tokens for u in carried) + unit.tokens <= limit else []
        current.append(unit)
    if current:
        emit()
    return chunks


def chunk_blocks(blocks: list[dict], *, limit: int | None = None, overlap: int | None = None) -> list[ChunkDraft]:
    limit = limit or settings.CHUNK_TOKENS
    overlap = settings.CHUNK_OVERLAP_TOKENS if overlap is None else overlap
    chunks = []
    sections = _sections(blocks)
    # One tokenizer call for every paragraph of the document: far cheaper than one call each.
    counts = iter(_count([block["text"] for _, body in sections for block in body]))
    for path, body in sections:
        units = [
            unit
            for number, block in enumerate(body)
            for unit in _units(block["text"], next(counts), block.get("page"), limit, paragraph=number)
        ]
        chunks += _pack(units, path, limit, overlap)
    return chunks
