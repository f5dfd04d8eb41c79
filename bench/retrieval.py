"""Hybrid retrieval at 100k chunks: latency (p50/p95) and recall@10 of the HNSW search against exact search.

Targets (issue #5): p50 <= 10 ms, recall@10 >= 0.95. Issue #9: a whole search (embedding the question through the
embedding service + the hybrid SQL, i.e. ``documents.retrieval.search``) p50 <= 20 ms, printed as one figure.

The corpus is synthetic but shaped like real data: 100k chunks in 500 documents, vectors drawn around 400 topic
centres (so neighbours are meaningful), text built from a vocabulary with topic words (so full-text search finds
things). Queries are new points drawn from one topic's distribution, with that topic's words. Latency is the SQL
search alone; the whole search adds embedding the question (paid once per question).
Recall compares the same hybrid query with the vector ranking computed approximately (HNSW) and exactly.

    .venv/bin/python bench/retrieval.py [--chunks 100000] [--queries 200]
"""

import argparse
import io
import os
import statistics
import sys
import time

import numpy as np
from _harness import BASE_DIR, Child, bench_database, free_port, percentile

TOPICS = 400
DIMENSIONS = 384


def corpus(chunks: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    centres = rng.normal(size=(TOPICS, DIMENSIONS)).astype(np.float32)
    topic_of = rng.integers(0, TOPICS, size=chunks)
    vectors = centres[topic_of] + 0.9 * rng.normal(size=(chunks, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vocabulary = [f"w{i}" for i in range(5000)]
    texts = [" ".join([f"topic{topic} keyword{topic % 50}", *rng.choice(vocabulary, size=60)]) for topic in topic_of]
    return vectors, topic_of, texts, centres


def load(cursor_connection, owner_id: int, vectors: np.ndarray, texts: list[str], per_document: int) -> list:
    import uuid

    raw = cursor_connection
    documents = []
    with raw.cursor() as cursor:
        for start in range(0, len(texts), per_document):
            document_id = uuid.uuid4()
            documents.append(document_id)
            cursor.execute(
                "INSERT INTO documents_document (id, owner_id, title, filename, file, kind, size_bytes, sha256,"
                " visibility, status, progress, error, chunk_count, attempts, leased_by, created_at, updated_at)"
                " VALUES (%s, %s, %s, 'x.txt', 'x', 'txt', 1, %s, 'private', 'ready', 100, '', %s, 1, '',"
                " now(), now())",
                [document_id, owner_id, f"doc {start // per_document}", uuid.uuid4().hex, per_document],
            )
        buffer = io.StringIO()
        for index, (vector, text) in enumerate(zip(vectors, texts, strict=True)):
            document_id = documents[index // per_document]
            literal = "[" + ",".join(f"{v:.5f}" for v in vector) + "]"
            buffer.write(f"{document_id}\t{index % per_document}\t{text}\t1\t\t60\t{literal}\n")
        buffer.seek(0)
        with cursor.copy(
            "COPY documents_chunk (document_id, ordinal, text, page, heading_path, token_count, embedding) FROM STDIN"
        ) as copy:
            while data := buffer.read(1 << 20):
                copy.write(data)
    raw.commit()
    return documents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = bench_database("genaisite_bench_retrieval")
    from genaisite.embedded.embedding_server import embedding_server_command

    port = free_port()
    os.environ["EMBEDDED_EMBEDDINGS_PORT"] = str(port)
    service = Child(
        embedding_server_command(port=port, bf16=True), os.environ.copy(), ready_url=f"http://127.0.0.1:{port}/health"
    )
    try:
        measure(args)
    finally:
        service.stop()


def measure(args) -> None:
    import django

    django.setup()
    from django.db import connection

    from accounts.models import User
    from documents import embeddings, retrieval

    rng = np.random.default_rng(7)
    vectors, _, texts, centres = corpus(args.chunks, rng)
    owner = User.objects.create_user(username="bench", password="bench-password-123")
    started = time.perf_counter()
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("DROP INDEX chunk_embedding_hnsw")  # bulk load first, then build: much faster
    load(connection.connection, owner.pk, vectors, texts, per_document=200)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE INDEX chunk_embedding_hnsw ON documents_chunk USING hnsw (embedding vector_cosine_ops)"
            " WITH (m = 16, ef_construction = 64)"
        )
        cursor.execute("ANALYZE documents_chunk")
    print(f"loaded {args.chunks} chunks and built the HNSW index in {time.perf_counter() - started:.0f} s")

    queries = []
    for _ in range(args.queries):
        # A question is a new point from one topic's distribution, like the chunks that answer it.
        topic = int(rng.integers(0, TOPICS))
        query_vector = centres[topic] + 0.9 * rng.normal(size=DIMENSIONS).astype(np.float32)
        query_vector /= np.linalg.norm(query_vector)
        queries.append((retrieval.vector_literal(query_vector), f"topic{topic} keyword{topic % 50}"))

    def run(vector: str, text: str, *, exact: bool) -> tuple[list[int], float]:
        params = {
            "user": owner.pk,
            "groups": [],
            "only": None,
            "vector": vector,
            "text": text,
            "candidates": 60,
            "rrf": retrieval.RRF_K,
            "k": 10,
        }
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cursor.execute("SET LOCAL hnsw.ef_search = 100")
            if exact:
                cursor.execute("SET LOCAL enable_indexscan = off")  # no HNSW: the true nearest neighbours
            started = time.perf_counter()
            cursor.execute(retrieval.HYBRID_SQL, params)
            ids = [row[0] for row in cursor.fetchall()]
            elapsed = time.perf_counter() - started
            cursor.execute("COMMIT")
        return ids, elapsed

    for vector, text in queries[:20]:
        run(vector, text, exact=False)  # warm the caches
    latencies, recalls = [], []
    for vector, text in queries:
        approximate, elapsed = run(vector, text, exact=False)
        exact, _ = run(vector, text, exact=True)
        latencies.append(elapsed * 1000)
        recalls.append(len(set(approximate) & set(exact)) / max(1, len(exact)))
    embeddings.embed_query("warm up the service")
    embed_times, whole_times = [], []
    questions = [f"What did the survey find about topic{t} keyword{t % 50} in the northern valley?" for t in range(50)]
    for question in questions:
        started = time.perf_counter()
        embeddings.embed_query(question)
        embed_times.append((time.perf_counter() - started) * 1000)
    for question in questions * 2:
        started = time.perf_counter()
        hits = retrieval.search(user=owner, query=question, k=10)
        whole_times.append((time.perf_counter() - started) * 1000)
    print(f"hybrid search, {args.queries} queries over {args.chunks} chunks (k=10):")
    print(
        f"  SQL latency p50 {percentile(latencies, 0.5):6.2f} ms   p95 {percentile(latencies, 0.95):6.2f} ms   "
        "(target p50 <= 10 ms)"
    )
    print(
        f"  recall@10 against exact search: mean {statistics.mean(recalls):.3f}, "
        f"min {min(recalls):.2f}   (target >= 0.95)"
    )
    print(
        f"  embedding the question through the embedding service: p50 {percentile(embed_times, 0.5):.1f} ms, "
        f"p95 {percentile(embed_times, 0.95):.1f} ms"
    )
    print(
        f"  whole search (retrieval.search: embed + SQL, {len(hits)} hits): p50 {percentile(whole_times, 0.5):.1f} ms, "
        f"p95 {percentile(whole_times, 0.95):.1f} ms   (target p50 <= 20 ms)"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(BASE_DIR))
    main()
