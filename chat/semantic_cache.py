"""The semantic side of the answer cache: a single-turn question that means the same as one this user asked before.

Naive semantic caches serve one question's answer for another: a loose threshold (LiteLLM #12234), a question and its
negation scoring 0.83–0.99 (GPTCache #694), a key that ignored the system prompt (vllm semantic-router
GHSA-xgc7-vx3q-4gfg). Here an entry is only a candidate inside its *partition* — everything of the request except
the question: the user, the model, the system prompt (canary left out), the sampling parameters, the output limit
and the documents in scope with their versions — and the nearest question there must pass a strict cosine threshold
(``ANSWER_CACHE_SEMANTIC_THRESHOLD``, tuned for precision on bench/cache_pairs.csv) *and* a lexical guard: the two
questions must carry the same numbers, negations and names, neither may say the opposite of the other (an antonym,
an un-/non- word), and neither may only add words to the other (a narrower question). Off by default (per role).
"""

import hashlib
import json
import re
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from pgvector.django import CosineDistance

from accounts.models import User
from chat.rag.grounding import DocumentScope
from chat.safety import guardrails
from documents import embeddings
from documents.models import Document
from documents.selectors import readable_q

NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nobody",
        "nothing",
        "nowhere",
        "neither",
        "nor",
        "without",
        "cannot",
        "cant",
        "can't",
        "don't",
        "doesn't",
        "didn't",
        "isn't",
        "aren't",
        "wasn't",
        "weren't",
        "won't",
        "wouldn't",
        "shouldn't",
        "couldn't",
        "haven't",
        "hasn't",
        "hadn't",
        "mustn't",
        "except",
        "excluding",
        "unless",
        "non",
    ]
)
_NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*")
_WORD = re.compile(r"[A-Za-z][\w'’-]*")
_URL = re.compile(r"https?://", re.IGNORECASE)


@dataclass(frozen=True)
class Facts:
    numbers: frozenset[str]
    negations: frozenset[str]
    names: frozenset[str]


def facts(question: str) -> Facts:
    """What must agree between two questions for one's answer to serve the other."""
    text = question.replace("’", "'")
    negated, names = False, set()
    for match in _WORD.finditer(text):
        word, lowered = match.group(), match.group().lower()
        negated = negated or lowered in NEGATIONS or lowered.endswith("n't")
        before = text[: match.start()].rstrip()
        starts_sentence = not before or before[-1] in '.?!:;"(\n'
        # Names: capitalised words that do not start a sentence, and acronyms anywhere (SSO, EU, Q3).
        if (word[0].isupper() and not starts_sentence and lowered != "i") or (len(word) > 1 and word.isupper()):
            names.add(lowered)
    return Facts(frozenset(_NUMBER.findall(text)), frozenset({"not"} if negated else ()), frozenset(names))


def _wordlist(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    return tuple(tuple(pair.split(":", 1)) for pair in text.split())


# Opposites a question may turn on (its negation without a "not"), and words too common to tell questions apart.
ANTONYMS = _pairs(
    "open:closed open:close mandatory:optional required:optional allowed:forbidden allowed:prohibited "
    "include:exclude included:excluded paid:unpaid before:after more:less maximum:minimum max:min first:last "
    "start:end enable:disable increase:decrease contain:free with:without buy:sell upload:download add:remove "
    "join:leave early:late highest:lowest largest:smallest longest:shortest oldest:newest accept:reject "
    "approve:reject public:private internal:external import:export login:logout encrypt:decrypt best:worst "
    "pros:cons above:below inbound:outbound full-time:part-time weekday:weekend on:off cheapest:expensive "
    "fastest:slowest hot:cold"
)
STOPWORDS = _wordlist(
    "a an the of to in on at for by with about is are was were be been do does did i my me we our you your it its this "
    "that these those what which who whom whose how when where why can could should would will shall may might must "
    "there their they he she his her them get got have has had any some each per every all much many more most so as "
    "or and if than then into from up out over off just please tell show give"
)
_LOWER_WORD = re.compile(r"[a-z0-9'-]+")


def _words(text: str) -> set[str]:
    return set(_LOWER_WORD.findall(text.lower().replace("’", "'")))


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _content(text: str) -> set[str]:
    return {_stem(word) for word in _words(text) if word not in STOPWORDS and len(word) >= 3}


def _opposed(first: str, second: str) -> bool:
    """One says the opposite of the other: an antonym, an un-/non-/dis- word, a "-free" or "-less" word."""
    one, other = _words(first), _words(second)
    for word, opposite in ANTONYMS:
        if (word in one and opposite in other and opposite not in one) or (
            opposite in one and word in other and word not in one
        ):
            return True
    for word in one ^ other:
        if word.endswith("-free") or (word.endswith("less") and len(word) > 6):
            return True
        if any(word.startswith(prefix) and word[len(prefix) :].lstrip("-") in one | other for prefix in _PREFIXES):
            return True
    return False


_PREFIXES = ("un", "non", "in", "im", "ir", "il", "dis")


def _narrower(first: str, second: str) -> bool:
    """One adds a qualifier to the other ("in southern Spain", "the remote branch"): a different, narrower question.
    Paraphrases replace words; narrowing only adds them."""
    one, other = _content(first), _content(second)
    return one != other and (one <= other or other <= one)


def agrees(first: str, second: str) -> bool:
    """The lexical guard: the same numbers, negations and names; no opposite; neither narrower than the other."""
    return facts(first) == facts(second) and not _opposed(first, second) and not _narrower(first, second)


def single_turn_question(prompt: list[dict]) -> str | None:
    """The question when the request is one question after system instructions only (and reads no web page)."""
    if not prompt or prompt[-1]["role"] != "user" or any(m["role"] != "system" for m in prompt[:-1]):
        return None
    question = prompt[-1]["content"]
    return None if _URL.search(question) or not question.strip() else question


def _scope_fingerprint(user: User, scope: DocumentScope | None) -> str:
    if scope is None:
        return "none"
    documents = Document.objects.filter(readable_q(user), status=Document.Status.READY)
    if scope.only is not None:
        documents = documents.filter(pk__in=scope.only)
    versions = sorted(
        f"{pk}:{sha}:{at.isoformat()}" for pk, sha, at in documents.values_list("pk", "sha256", "updated_at")
    )
    return hashlib.sha256("|".join(versions).encode()).hexdigest()


def partition_key(
    *, user: User, model: str, prompt: list[dict], sampling: dict, max_tokens: int, canary: str | None, scope
) -> str:
    instructions = [guardrails.without_canary(m["content"], canary) for m in prompt[:-1]]
    canonical = json.dumps(
        {
            "user": user.pk,
            "model": model,
            "instructions": instructions,
            "sampling": sampling,
            "max_tokens": max_tokens,
            "documents": _scope_fingerprint(user, scope),
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Probe:
    partition: str
    question: str
    vector: np.ndarray


def partition_of(
    *, user_id: int, model: str, prompt: list[dict], sampling: dict, max_tokens: int, canary, scope
) -> str:
    user = User.objects.get(pk=user_id)
    return partition_key(
        user=user, model=model, prompt=prompt, sampling=sampling, max_tokens=max_tokens, canary=canary, scope=scope
    )


def probe(partition: str, question: str) -> Probe:
    """The embedded question (one call to the embedding service), for the nearest search and to be stored with."""
    return Probe(partition, question, embeddings.embed_query(question))


def nearest(probe_: Probe, fresh_entries):
    """The closest earlier question in the partition, if it passes the threshold and the lexical guard."""
    entry = (
        fresh_entries.filter(partition=probe_.partition, question_embedding__isnull=False)
        .annotate(distance=CosineDistance("question_embedding", probe_.vector.tolist()))
        .order_by("distance")
        .first()
    )
    if entry is None or 1 - entry.distance < settings.ANSWER_CACHE_SEMANTIC_THRESHOLD:
        return None
    return entry if agrees(probe_.question, entry.question) else None
