"""Embeddings for API callers (``POST /v1/embeddings``): the gate, the one embedding boundary, the ledger.

Blocking from start to end (the boundary is a sync client): entry points run ``embeddings_create`` on ``EXECUTOR``,
threads of its own, because most of a call is spent waiting for the model, and waiting on the event loop's default
threads would starve every other request's short ORM calls of them.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection

from chat import admission, embedding_usage, quotas
from documents import embeddings as boundary

# The embedding service encodes one batch at a time and merges the requests queued meanwhile: a few in flight per
# web process keep it busy; more would only wait in its queue instead of here.
REQUEST_THREADS = 4
EXECUTOR = ThreadPoolExecutor(max_workers=REQUEST_THREADS, thread_name_prefix="embeddings")


@dataclass(frozen=True)
class Embedded:
    vectors: np.ndarray  # float32, one unit-length row per input, ``dimensions`` wide
    prompt_tokens: int


def shorten(vectors: np.ndarray, dimensions: int) -> np.ndarray:
    """The first ``dimensions`` components, back to unit length: how text-embedding-3 models shorten theirs
    (Matryoshka training puts the most information first). all-MiniLM-L6-v2 was not trained that way, so a shortened
    vector is an approximation that keeps less of the meaning than a model trained for it would."""
    if dimensions == vectors.shape[1]:
        return vectors
    head = vectors[:, :dimensions]
    return head / np.maximum(np.linalg.norm(head, axis=1, keepdims=True), 1e-12)


def embeddings_create(*, caller: admission.Caller, texts: list[str], dimensions: int | None = None) -> Embedded:
    """Admit, embed, settle. The hold is settled or given back whatever happens after it is taken, and a client
    that hangs up cannot interrupt this (it runs on a thread): what the model read is charged, nothing else."""
    model = settings.EMBEDDINGS_MODEL
    admitted = admission.admit_embeddings(caller, model=model, texts=texts)
    # The pooled connection goes back while the model works: it is needed again only to settle, a second later.
    connection.close()
    try:
        vectors = boundary.embed_texts(texts)
    except BaseException:
        quotas.release(admitted.hold)
        raise
    embedding_usage.settle(admitted.hold, model=model)
    return Embedded(shorten(vectors, dimensions or vectors.shape[1]), admitted.hold.tokens)
