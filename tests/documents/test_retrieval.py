"""Hybrid retrieval: the read rule is applied in SQL, and a selective filter still returns k results."""

import uuid

import numpy as np
import pytest
from django.contrib.auth.models import Group
from django.db import connection

from documents import retrieval, services
from documents.models import Chunk, Document
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def vector(seed: int) -> list[float]:
    values = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return (values / np.linalg.norm(values)).tolist()


def add_document(owner, texts: list[str], *, vectors: list | None = None, **fields) -> Document:
    document = Document.objects.create(
        owner=owner,
        title=fields.pop("title", "doc"),
        filename="d.txt",
        kind="txt",
        size_bytes=1,
        sha256=uuid.uuid4().hex,
        status=Document.Status.READY,
        file="documents/x.txt",
        **fields,
    )
    Chunk.objects.bulk_create(
        Chunk(
            document=document,
            ordinal=i,
            text=text,
            page=i + 1,
            token_count=10,
            embedding=vectors[i] if vectors else vector(hash(text) % 10_000),
        )
        for i, text in enumerate(texts)
    )
    return document


def test_it_ranks_by_meaning_and_by_words_together():
    user = make_user()
    from documents.embeddings import embed_texts

    texts = ["The cat sleeps on the warm sofa.", "Quarterly revenue rose by four percent.", "Invoice ZX-4471 is due."]
    add_document(user, texts, vectors=embed_texts(texts).tolist())
    assert retrieval.search(user=user, query="a kitten napping on the couch", k=1)[0].text == texts[0]
    assert retrieval.search(user=user, query="ZX-4471", k=1)[0].text == texts[2]  # an exact code: full text wins


def test_another_users_private_chunks_are_never_retrieved():
    alice, bob = make_user(), make_user()
    add_document(alice, ["Alice's secret plan for the merger."], title="secret")
    assert retrieval.search(user=alice, query="secret merger plan", k=5)
    assert retrieval.search(user=bob, query="secret merger plan", k=5) == []


def test_shared_documents_are_retrieved_by_those_they_are_shared_with():
    alice, bob, carol = make_user(), make_user(), make_user()
    team = Group.objects.create(name="team")
    bob.groups.add(team)
    alice.groups.add(team)
    document = add_document(alice, ["Shared roadmap for next year."])
    services.document_update(document=document, actor=alice, visibility="group", group_id=team.pk)
    assert [hit.document_id for hit in retrieval.search(user=bob, query="roadmap", k=3)] == [document.pk]
    assert retrieval.search(user=carol, query="roadmap", k=3) == []
    services.document_update(document=document, actor=alice, visibility="everyone")
    assert retrieval.search(user=carol, query="roadmap", k=3)


def test_a_filter_matching_one_percent_of_chunks_still_returns_k():
    owner, other = make_user(), make_user()
    rows = []
    for d in range(99):
        document = Document.objects.create(
            owner=other,
            title=f"d{d}",
            filename="d.txt",
            kind="txt",
            size_bytes=1,
            sha256=uuid.uuid4().hex,
            status=Document.Status.READY,
            file="documents/x.txt",
        )
        rows += [(document.pk, i, f"filler {d} {i}", vector(d * 1000 + i)) for i in range(100)]
    mine = add_document(owner, [f"mine {i}" for i in range(100)], vectors=[vector(900_000 + i) for i in range(100)])
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO documents_chunk (document_id, ordinal, text, page, heading_path, token_count, embedding) "
            "VALUES (%s, %s, %s, 1, '', 10, %s::vector)",
            [(pk, i, text, retrieval.vector_literal(v)) for pk, i, text, v in rows],
        )
        cursor.execute("ANALYZE documents_chunk")
    assert Chunk.objects.count() == 10_000
    hits = retrieval.search(user=owner, query="a question matching nothing in particular", k=10)
    assert len(hits) == 10
    assert {hit.document_id for hit in hits} == {mine.pk}


def test_search_can_be_limited_to_chosen_documents():
    user = make_user()
    first = add_document(user, ["apples and pears"])
    add_document(user, ["apples and plums"])
    hits = retrieval.search(user=user, query="apples", k=5, document_ids=[first.pk])
    assert {hit.document_id for hit in hits} == {first.pk}


def test_snippets_show_the_words_searched_for():
    text = "Background. " * 40 + "The warranty lasts five years from delivery." + " Other." * 40
    snippet = retrieval.snippet(text, "how long is the warranty")
    assert "warranty lasts five years" in snippet
    assert snippet.startswith("…")


def test_on_the_hnsw_plan_iterative_scans_are_what_keeps_k(django_db_blocker):
    """Force the approximate-index plan the planner picks at scale, and compare iterative scans on and off."""
    test_a_filter_matching_one_percent_of_chunks_still_returns_k()
    owner = Document.objects.get(title="doc").owner
    params = {
        "user": owner.pk,
        "groups": [],
        "only": None,
        "vector": retrieval.vector_literal(vector(1)),
        "text": "zzzz-no-word-matches",
        "candidates": 60,
        "rrf": 60,
        "k": 10,
    }
    counts = {}
    with connection.cursor() as cursor:
        # Inside this test's transaction (rolled back afterwards): without the plain per-document index the
        # planner takes the HNSW index, as it does on a large table.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # flush the deferred foreign-key checks first
        cursor.execute("ALTER TABLE documents_chunk DROP CONSTRAINT chunk_unique_ordinal")
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'documents_chunk' AND indexdef LIKE '%(document_id)'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_indexscan = on")
        cursor.execute("EXPLAIN " + retrieval.HYBRID_SQL, params)
        plan = " ".join(row[0] for row in cursor.fetchall())
        for mode in ("off", "relaxed_order"):
            cursor.execute(f"SET LOCAL hnsw.iterative_scan = {mode}")
            cursor.execute(retrieval.HYBRID_SQL, params)
            counts[mode] = len(cursor.fetchall())
    assert "chunk_embedding_hnsw" in plan
    assert counts["off"] < 10  # the graph's first 40 candidates are mostly other people's chunks
    assert counts["relaxed_order"] == 10
