"""pgvector on the embedded Postgres: the extension, a vector column, an HNSW index, a nearest-neighbour query."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_the_vector_extension_is_installed_by_migrations():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        (version,) = cursor.fetchone()
    assert tuple(int(part) for part in version.split(".")[:2]) >= (0, 8)


def test_it_finds_nearest_neighbours_through_an_hnsw_index():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE probe (id int PRIMARY KEY, embedding vector(3))")
        cursor.execute("CREATE INDEX probe_hnsw ON probe USING hnsw (embedding vector_cosine_ops)")
        rows = [(i, f"[{1 + i % 7},{(i * 3) % 11},{(i * 5) % 13 + 1}]") for i in range(200)]
        cursor.executemany("INSERT INTO probe VALUES (%s, %s::vector)", rows)
        cursor.execute("ANALYZE probe")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT id FROM probe ORDER BY embedding <=> '[1,0,1]' LIMIT 5")
        plan = " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT id, embedding <=> '[1,0,1]' AS d FROM probe ORDER BY embedding <=> '[1,0,1]' LIMIT 5")
        nearest = cursor.fetchall()
        cursor.execute("SELECT min(embedding <=> '[1,0,1]') FROM probe")
        (exact_best,) = cursor.fetchone()
    assert "probe_hnsw" in plan
    assert len(nearest) == 5
    distances = [distance for _, distance in nearest]
    assert distances == sorted(distances)
    assert distances[0] == pytest.approx(exact_best)
