"""Hybrid retrieval: vector nearest neighbours and full-text ranking, fused by reciprocal rank fusion.

The whole search is one SQL statement that applies the read rule itself (own, shared with everyone, shared with one
of the user's groups, optionally a chosen set), so no code path can retrieve a chunk its user may not read. pgvector's
iterative index scan keeps the HNSW search going until enough rows pass that filter: a selective filter still gets k.
"""

import re
import uuid
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from accounts.models import User
from core import metrics, tracing
from documents import embeddings
from documents.selectors import group_ids

RRF_K = 60  # the usual reciprocal-rank-fusion constant: dampens the weight of the very top ranks
SNIPPET_CHARS = 280

# The read rule, applied to the documents row ``d`` of each chunk (joined by primary key: one index lookup per
# candidate the HNSW scan yields, so the scan can keep going until enough pass).
READABLE = """
    d.status = 'ready'
    AND (d.owner_id = %(user)s OR d.visibility = 'everyone'
         OR (d.visibility = 'group' AND d.shared_group_id = ANY(%(groups)s)))
    AND (%(only)s::uuid[] IS NULL OR d.id = ANY(%(only)s::uuid[]))
"""

HYBRID_SQL = f"""
WITH semantic AS (
    SELECT id, row_number() OVER (ORDER BY distance) AS rank
    FROM (
        SELECT c.id, c.embedding <=> %(vector)s::vector AS distance
        FROM documents_chunk c JOIN documents_document d ON d.id = c.document_id
        WHERE {READABLE}
        ORDER BY c.embedding <=> %(vector)s::vector
        LIMIT %(candidates)s
    ) nearest
),
lexical AS (
    SELECT id, row_number() OVER (ORDER BY score DESC) AS rank
    FROM (
        SELECT c.id, ts_rank_cd(c.search_vector, q) AS score
        FROM documents_chunk c JOIN documents_document d ON d.id = c.document_id,
             websearch_to_tsquery('english', %(text)s) q
        WHERE c.search_vector @@ q AND {READABLE}
        ORDER BY score DESC
        LIMIT %(candidates)s
    ) matching
),
fused AS (
    SELECT id, sum(1.0 / (%(rrf)s + rank)) AS score
    FROM (SELECT id, rank FROM semantic UNION ALL SELECT id, rank FROM lexical) ranked
    GROUP BY id
)
SELECT c.id, c.document_id, d.title, d.kind, c.page, c.heading_path, c.text, c.ordinal, f.score, c.embedding::text
FROM fused f
JOIN documents_chunk c ON c.id = f.id
JOIN documents_document d ON d.id = c.document_id
ORDER BY f.score DESC, c.id
LIMIT %(k)s
"""  # noqa: S608 - READABLE is a constant; every value is a parameter


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: uuid.UUID
    document_title: str
    document_kind: str  # the file's kind (pdf, docx…): a PDF can be opened at the cited page
    page: int | None
    heading_path: str
    text: str
    ordinal: int
    score: float
    embedding_text: str  # pgvector's text form, parsed only when needed (vector())

    def vector(self) -> np.ndarray:
        return np.array(self.embedding_text.strip("[]").split(","), dtype=np.float32)

    def snippet(self, query: str) -> str:
        return snippet(self.text, query)

    def as_source(self, number: int, query: str) -> dict:
        return {
            "number": number,
            "kind": "document",
            "document_id": str(self.document_id),
            "title": self.document_title,
            "document_kind": self.document_kind,
            "page": self.page,
            "chunk_id": self.chunk_id,
            "heading_path": self.heading_path,
            "snippet": self.snippet(query),
        }


def snippet(text: str, query: str) -> str:
    """A window of the text around the first query word it contains."""
    words = re.findall(r"\w{3,}", query.lower())
    lowered = text.lower()
    positions = [lowered.find(word) for word in words if word in lowered]
    start = max(0, min(positions) - SNIPPET_CHARS // 3) if positions else 0
    piece = text[start : start + SNIPPET_CHARS].strip()
    return ("…" if start else "") + piece + ("…" if start + SNIPPET_CHARS < len(text) else "")


def vector_literal(vector) -> str:
    return "[" + ",".join(f"{value:.6f}" for value in vector) + "]"


def search(*, user: User, query: str, k: int = 5, document_ids: list[uuid.UUID] | None = None) -> list[Hit]:
    """The k best chunks for ``query`` among what ``user`` may read (optionally only ``document_ids``)."""
    query = query.strip()
    if not query:
        return []
    with tracing.span("documents.search", k=k), metrics.timer(metrics.RETRIEVAL_DURATION):
        return _search(user, query, k, document_ids)


def _search(user: User, query: str, k: int, document_ids: list[uuid.UUID] | None) -> list[Hit]:
    vector = embeddings.embed_query(query)
    params = {
        "user": user.pk,
        "groups": group_ids(user),
        "only": [str(d) for d in document_ids] if document_ids else None,
        "vector": vector_literal(vector),
        "text": query,
        "candidates": max(settings.RETRIEVAL_CANDIDATES, k),
        "rrf": RRF_K,
        "k": k,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # Keep scanning the HNSW graph until enough rows pass the permission filter (pgvector >= 0.8).
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute("SET LOCAL hnsw.ef_search = 100")
        cursor.execute(HYBRID_SQL, params)
        rows = cursor.fetchall()
    return [Hit(*row) for row in rows]
