"""What a task reads: a caller's text or a stored document, as pieces that carry where they came from (page,
section), grouped into windows that fit the model's context with room for the answer."""

import re
import uuid
from dataclasses import dataclass

from django.conf import settings

from accounts.models import User
from chat import llm
from core.db import in_db_thread
from core.errors import ServiceError
from documents import chunking, extraction
from documents.models import Document
from documents.selectors import access_document

# The task's own instruction and the chat template's tokens, beyond the fenced text.
PROMPT_ALLOWANCE_TOKENS = 120


@dataclass(frozen=True)
class Piece:
    text: str
    ordinal: int
    page: int | None = None
    section: str = ""


@dataclass(frozen=True)
class Source:
    pieces: list[Piece]
    from_user: bool  # the caller's own text (screened as a prompt), or a document's
    document: Document | None = None


def check_text(text: str, param: str = "text") -> str:
    if not text.strip():
        raise ServiceError("empty_text", "Send some text.", param=param)
    if "\x00" in text:
        raise ServiceError("invalid_text", "The text contains a NUL character; remove it.", param=param)
    if len(text) > settings.CHAT_MAX_PROMPT_CHARS:
        raise ServiceError(
            "text_too_long",
            f"The text has {len(text)} characters; the limit is {settings.CHAT_MAX_PROMPT_CHARS}.",
            status=413,
            param=param,
        )
    return text


def _text_pieces(text: str) -> list[Piece]:
    # The documents' own chunker, on the text's paragraphs: the same boundaries a stored document gets.
    blocks = [{"text": part, "page": None, "level": 0} for part in re.split(r"\n\s*\n", extraction.clean_text(text))]
    drafts = chunking.chunk_blocks([block for block in blocks if block["text"].strip()])
    return [Piece(draft.text, number) for number, draft in enumerate(drafts)]


def _document_pieces(user: User, document_id: uuid.UUID) -> tuple[Document, list[Piece]]:
    document = access_document(user, document_id)  # NotFound (404) for a document the user may not read
    if document.status != Document.Status.READY:
        raise ServiceError(
            "document_not_ready", f"The document is {document.status}; wait until it is ready.", status=409
        )
    chunks = document.chunks.order_by("ordinal").values_list("text", "ordinal", "page", "heading_path")
    pieces = [Piece(text, ordinal, page, section) for text, ordinal, page, section in chunks]
    if not pieces:
        raise ServiceError("document_empty", "The document has no readable text.", status=422)
    return document, pieces


async def text_source(text: str) -> Source:
    """A short text is one piece; a longer one is chunked (the tokenizer runs off the event loop)."""
    return Source([Piece(text, 0)] if len(text) < 2000 else await in_db_thread(_text_pieces)(text), from_user=True)


async def document_source(user: User, document_id: uuid.UUID) -> Source:
    document, pieces = await in_db_thread(_document_pieces)(user, document_id)
    return Source(pieces, from_user=False, document=document)


def joined(pieces: list[Piece]) -> str:
    return "\n\n".join(piece.text for piece in pieces)


def room(model: llm.ModelConfig, answer_tokens: int, extra_tokens: int = 0) -> int:
    """Tokens of text one call can read, by the same generous estimate the LLM boundary fits prompts with."""
    return max(model.context_window - answer_tokens - PROMPT_ALLOWANCE_TOKENS - extra_tokens, 64)


def windows(pieces: list[Piece], tokens: int) -> list[list[Piece]]:
    """Consecutive pieces packed into groups of at most ``tokens`` (a piece larger than that is a group alone)."""
    groups: list[list[Piece]] = []
    for piece in pieces:
        if groups and llm.estimate_tokens(joined([*groups[-1], piece])) <= tokens:
            groups[-1].append(piece)
        else:
            groups.append([piece])
    return groups


def origin(pieces: list[Piece]) -> dict:
    """Where a group of pieces came from: pages, sections and chunk ordinals, each once and in order."""
    return {
        "pages": sorted({piece.page for piece in pieces if piece.page is not None}),
        "sections": list(dict.fromkeys(piece.section for piece in pieces if piece.section)),
        "chunks": [piece.ordinal for piece in pieces],
    }


async def source_from(user: User, *, text: str | None, document_id: uuid.UUID | None) -> Source:
    """The one source a request names: ``text`` or ``document_id``, never both."""
    if (text is None) == (document_id is None):
        raise ServiceError("invalid_source", "Send either 'text' or 'document_id' (one of them).", param="text")
    if document_id is not None:
        return await document_source(user, document_id)
    return await text_source(check_text(text))
