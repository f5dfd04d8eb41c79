"""Grounding answers in the user's documents: retrieve, give the model numbered sources, keep the ones it cites.

Runs inside the generation task (before the first token), so a send returns at once and "stop" works during
retrieval too. Follow-up questions are rewritten into standalone queries from the conversation first.
"""

import asyncio
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from accounts.models import User
from chat import llm, prompts
from chat.models import Conversation
from chat.safety import guardrails
from core.db import in_db_thread
from documents import embeddings, retrieval, web, webpages
from documents.models import Document
from documents.selectors import readable_q
from presets.selectors import readable_knowledge

logger = logging.getLogger(__name__)

CITATION = re.compile(r"\[(\d{1,2})\]")
REWRITE_TIMEOUT = 8.0
# An answer that cites nothing still credits a source it clearly restates (cosine similarity of embeddings).
SIMILARITY_CITATION = 0.55
MAX_SIMILARITY_CITATIONS = 2


# Share of the model's context window the sources may fill (about 3.5 characters a token).
SOURCES_SHARE_OF_CONTEXT = 0.4
CHARS_PER_TOKEN = 3.5


@dataclass
class Grounding:
    query: str = ""
    sources: list[dict] = field(default_factory=list)
    texts: dict[int, str] = field(default_factory=dict)
    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    unusable: list[dict] = field(default_factory=list)  # links that could not be read, with the reason

    def message(self) -> dict | None:
        if not self.sources and not self.unusable:
            return None
        return prompts.sources_message(self.sources, self.texts, self.unusable)

    def add(self, source: dict, text: str, vector: np.ndarray | None = None) -> None:
        number = len(self.sources) + 1
        self.sources.append(source | {"number": number})
        self.texts[number] = _fence(text)
        if vector is not None:
            self.vectors[number] = vector


def _fence(text: str) -> str:
    # Retrieved text is data: no invisible characters to smuggle instructions in, and no way to close its own fence
    # and speak outside it.
    return re.sub(r"</?\s*source", "‹source", guardrails.as_data(text), flags=re.IGNORECASE)


@dataclass(frozen=True)
class DocumentScope:
    only: list[uuid.UUID] | None  # None: every document the user may read


def document_scope(
    conversation: Conversation, user: User, knowledge: tuple[uuid.UUID, ...] | None = None
) -> DocumentScope | None:
    """Which documents ground this conversation's answers; None when there are none to use. ``knowledge``: the
    documents of the conversation's preset, which restrict it further (knowledge_scope)."""
    if conversation.documents_mode == Conversation.DocumentsMode.NONE:
        return None
    if conversation.documents_mode == Conversation.DocumentsMode.SELECTED:
        chosen = list(conversation.documents.values_list("pk", flat=True))
        if knowledge is not None:
            return knowledge_scope(user, tuple(set(knowledge) & set(chosen)))
        return DocumentScope(only=chosen) if chosen else None
    if knowledge is not None:
        return knowledge_scope(user, knowledge)
    readable = Document.objects.filter(readable_q(user), status=Document.Status.READY)
    return DocumentScope(only=None) if readable.exists() else None


def knowledge_scope(user: User, knowledge: tuple[uuid.UUID, ...]) -> DocumentScope | None:
    """A preset's documents as ``user`` may search them: those they may read, intersected in SQL (and again by the
    search itself). None when none is left — never an empty list, which retrieval would read as "everything"."""
    readable = readable_knowledge(user, knowledge) if knowledge else []
    return DocumentScope(only=readable) if readable else None


def heuristic_query(history: list[dict], question: str) -> str:
    earlier = [turn["content"] for turn in history if turn["role"] == "user"][-1:]
    return " ".join([*earlier, question])[:1000]


def _usable_rewrite(candidate: str, history: list[dict], question: str) -> bool:
    """Small models sometimes answer instead of rewriting: accept a short line that shares words with the chat."""
    if not candidate or len(candidate) > 300 or "\n" in candidate.strip():
        return False
    words = set(re.findall(r"\w{4,}", candidate.lower()))
    context = set(re.findall(r"\w{4,}", (question + " " + " ".join(t["content"] for t in history)).lower()))
    return len(words & context) >= 2


async def standalone_query(model: llm.ModelConfig, history: list[dict], question: str) -> str:
    if not any(turn["role"] == "user" for turn in history):
        return question
    try:
        rewritten = await llm.complete(
            model,
            prompts.rewrite_request(history, question),
            max_tokens=prompts.REWRITE_MAX_TOKENS,
            deadline=REWRITE_TIMEOUT,  # a slow rewrite falls back to the heuristic query, not a stalled answer
        )
    except llm.LLMError:
        rewritten = ""
    rewritten = rewritten.strip().strip('"')
    return rewritten if _usable_rewrite(rewritten, history, question) else heuristic_query(history, question)


def search_documents(*, user: User, query: str, scope: DocumentScope) -> list[retrieval.Hit]:
    return retrieval.search(user=user, query=query, k=settings.RETRIEVAL_K, document_ids=scope.only)


def add_documents(grounding: Grounding, hits: list[retrieval.Hit], query: str) -> None:
    for hit in hits:
        grounding.add(hit.as_source(0, query), hit.text, hit.vector())


def grounder(
    user: User,
    config: llm.ModelConfig,
    turns: list[dict],
    scope: DocumentScope | None,
    urls: list[str],
    web_allowed: bool,
) -> Callable[[], Awaitable[Grounding]]:
    """The retrieval to run before the model (in the generation's task): ``scope``'s documents and the ``urls``
    read at once."""
    history, question = turns[:-1], turns[-1]["content"]

    async def documents() -> list:
        if scope is None:
            return []
        query = await standalone_query(config, history, question)
        return await in_db_thread(search_documents)(user=user, query=query, scope=scope)

    async def pages() -> list:
        if not web_allowed:
            return web_refusals(urls, "Your role does not allow reading web pages.")
        return await webpages.read_pages(urls)

    async def ground() -> Grounding:
        found = Grounding(query=question)
        hits, results = await asyncio.gather(documents(), pages())  # links are read while documents are searched
        add_documents(found, hits, question)
        add_web_pages(found, results, question, config)
        return found

    return ground


def web_refusals(urls: list[str], message: str) -> list:
    return [webpages.WebResult(url, refused=web.FetchRefused("blocked", message)) for url in urls]


def relevant_excerpt(text: str, question: str, budget: int) -> str:
    """The page's paragraphs that share most words with the question, in page order, within ``budget`` chars;
    the opening paragraph always, since it usually says what the page is."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    if sum(len(p) for p in paragraphs) <= budget:
        return "\n\n".join(paragraphs)
    words = set(re.findall(r"\w{4,}", question.lower()))
    scored = sorted(
        range(1, len(paragraphs)), key=lambda i: -len(words & set(re.findall(r"\w{4,}", paragraphs[i].lower())))
    )
    keep, used = {0}, len(paragraphs[0])
    for index in scored:
        if used + len(paragraphs[index]) > budget:
            continue
        keep.add(index)
        used += len(paragraphs[index])
    return "\n\n".join(paragraphs[i] for i in sorted(keep))[:budget]


def add_web_pages(grounding: Grounding, results: list, question: str, model: llm.ModelConfig) -> None:
    readable = [result for result in results if result.page is not None]
    budget = int(model.context_window * CHARS_PER_TOKEN * SOURCES_SHARE_OF_CONTEXT / max(1, len(readable)))
    for result in results:
        if result.page is None:
            refused = result.refused
            grounding.unusable.append({"url": result.url, "reason": refused.reason, "message": refused.message})
            continue
        page = result.page
        excerpt = relevant_excerpt(page.text, question, budget)
        source = {
            "kind": "web",
            "url": page.final_url,
            "title": page.title,
            "page": None,
            "snippet": retrieval.snippet(excerpt, question),
            "cached": result.cached,
        }
        grounding.add(source, excerpt)


QUOTED_WORDS = 5  # this many words in a row, word for word, from a source: the answer restates it


def _phrases(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + QUOTED_WORDS]) for i in range(len(words) - QUOTED_WORDS + 1)}


def cited_sources(answer: str, grounding: Grounding) -> list[dict]:
    """The sources the answer cites with [n]; failing that, those it quotes or clearly restates."""
    by_number = {source["number"]: source for source in grounding.sources}
    cited = [int(n) for n in CITATION.findall(answer)]
    explicit = [by_number[n] | {"cited_by": "marker"} for n in dict.fromkeys(cited) if n in by_number]
    if explicit or not grounding.sources or not answer.strip():
        return explicit
    # A small model rarely writes markers and paraphrases loosely; a phrase copied from a source is certain.
    answer_phrases = _phrases(answer)
    quoted = [
        s | {"cited_by": "quote"} for s in grounding.sources if answer_phrases & _phrases(grounding.texts[s["number"]])
    ]
    if quoted:
        return quoted
    answer_vector = embeddings.embed_query(answer[:2000])
    missing = [source["number"] for source in grounding.sources if source["number"] not in grounding.vectors]
    if missing:  # web pages have no stored embedding: embed their excerpts now
        for number, vector in zip(missing, embeddings.embed_texts([grounding.texts[n] for n in missing]), strict=True):
            grounding.vectors[number] = vector
    scores = np.array([grounding.vectors[source["number"]] @ answer_vector for source in grounding.sources])
    ranked = sorted(zip(scores, grounding.sources, strict=True), key=lambda pair: -pair[0])
    return [
        source | {"cited_by": "similarity", "similarity": round(float(score), 3)}
        for score, source in ranked[:MAX_SIMILARITY_CITATIONS]
        if score >= SIMILARITY_CITATION
    ]
