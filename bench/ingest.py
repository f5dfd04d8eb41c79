"""Ingestion throughput: end-to-end chunks per second (upload → ready, through a real Huey worker: extraction in a
child process, chunking, embedding through the embedding service, storage) beside the raw embedding model's chunks
per second on the same chunks (the model called in this process, as the service calls it, without HTTP).

Target (issues #5, #9): end-to-end >= 90% of the raw model. A third line, the embedding service's API called
directly with the same chunks, shows how much of any gap is HTTP and how much the worker's own stages.

The two are measured in alternation, --repeat pairs, and the median of the per-pair ratios is reported: on a shared
2-core machine the same embedding run varies by about ±10% from minute to minute.

    .venv/bin/python bench/ingest.py [--paragraphs 800] [--repeat 5]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from _harness import BASE_DIR, Child, bench_database, cpu_seconds, free_port


def document_text(paragraphs: int, variant: int = 0) -> bytes:
    sentences = [
        "The survey team measured soil moisture at {i} sites across the northern valley.",
        "Readings were taken twice a day and logged with the station identifier {i}.",
        "Anomalies above the seasonal mean were flagged for a second visit by the field crew.",
        "The budget for instrument maintenance in region {i} was reviewed in the spring meeting.",
    ]
    return "\n\n".join(
        f"Section {p}. " + " ".join(s.format(i=p * 7 + k + variant) for k, s in enumerate(sentences * 3))
        for p in range(paragraphs)
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paragraphs", type=int, default=800, help="~1.25 chunks each")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = bench_database("genaisite_bench_ingest")
    os.environ["DATA_DIR"] = str(BASE_DIR / "var" / "bench-ingest")
    from genaisite.embedded.embedding_server import Model, embedding_server_command

    port = free_port()
    os.environ["EMBEDDED_EMBEDDINGS_PORT"] = str(port)  # this process and the worker both use this service
    service = Child(
        embedding_server_command(port=port, bf16=True),
        os.environ.copy(),
        ready_url=f"http://127.0.0.1:{port}/health",
        log=str(BASE_DIR / "var" / "bench-ingest-embeddings.log"),
    )
    try:
        measure(args, Model, service.process.pid)
    finally:
        service.stop()


def postgres_cpu_seconds() -> float:
    """CPU used so far by every Postgres process on this machine (the bench database's backends among them)."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                total += cpu_seconds(int(comm.parent.name))
        except (OSError, ValueError):
            continue
    return total


def measure(args, Model, service_pid: int) -> None:
    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone
    from huey.contrib.djhuey import HUEY

    from accounts.models import Role, User
    from documents import chunking, embeddings, extraction, ingestion, services
    from documents.models import Document

    content = document_text(args.paragraphs)
    path = BASE_DIR / "var" / "bench-ingest-source.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    drafts = chunking.chunk_blocks(
        extraction.extract_file(str(path), "txt", max_chars=10**8, timeout=120, memory_mb=2048).blocks
    )
    texts = [ingestion._embedding_text(draft) for draft in drafts]
    model = Model(bf16=True)  # exactly what the service runs, in this process
    model.encode(texts[:64])
    embeddings.embed_texts(texts[:64])  # warm the service and the connection

    def raw_run() -> float:
        started = time.perf_counter()
        for start in range(0, len(texts), ingestion.EMBED_BATCH):
            model.encode(texts[start : start + ingestion.EMBED_BATCH])
        return len(texts) / (time.perf_counter() - started)

    def service_run() -> float:
        started = time.perf_counter()
        embeddings.embed_texts(texts)
        return len(texts) / (time.perf_counter() - started)

    HUEY.flush()
    env = os.environ | {"LOG_LEVEL": "INFO"}
    log = BASE_DIR / "var" / "bench-ingest-worker.log"
    log.unlink(missing_ok=True)
    worker = Child([sys.executable, str(BASE_DIR / "manage.py"), "run_huey", "-w", "1"], env, log=str(log))
    try:
        time.sleep(4)  # the worker starts (it loads only the tokenizer); warm it with a small document first
        user = User.objects.create_user(username="bench", password="bench-password-123", role=Role.MEMBER)
        warm = services.document_upload(owner=user, upload=SimpleUploadedFile("warm.txt", document_text(8)))
        while Document.objects.get(pk=warm.pk).status not in ("ready", "failed"):
            time.sleep(0.2)
        raw_runs, service_runs, end_to_end_runs, cpu_runs = [], [], [], []
        for run in range(args.repeat):
            raw_runs.append(raw_run())
            service_runs.append(service_run())
            before = (cpu_seconds(service_pid), cpu_seconds(worker.process.pid), postgres_cpu_seconds())
            uploaded_at = timezone.now()
            upload = SimpleUploadedFile(f"bench{run}.txt", document_text(args.paragraphs, variant=run))
            document = services.document_upload(owner=user, upload=upload)
            while (document := Document.objects.get(pk=document.pk)).status not in ("ready", "failed"):
                time.sleep(0.1)
            end_to_end_runs.append(document.chunk_count / (document.ready_at - uploaded_at).total_seconds())
            after = (cpu_seconds(service_pid), cpu_seconds(worker.process.pid), postgres_cpu_seconds())
            cpu_runs.append([b - a for a, b in zip(before, after, strict=True)] + [(document.ready_at - uploaded_at)])
    finally:
        worker.stop()
    ratios = [e2e / raw for raw, e2e in zip(raw_runs, end_to_end_runs, strict=True)]
    runs = lambda values: ", ".join(f"{v:.1f}" for v in values)  # noqa: E731
    print(f"document: {len(content) / 1e6:.2f} MB of text, {document.chunk_count} chunks ({document.status})")
    print(
        f"raw embedding model (same chunks):   {statistics.median(raw_runs):6.1f} chunks/s median  ({runs(raw_runs)})"
    )
    print(
        f"embedding service API (same chunks): {statistics.median(service_runs):6.1f} chunks/s median  "
        f"({runs(service_runs)})"
    )
    print(
        f"end to end through the worker:       {statistics.median(end_to_end_runs):6.1f} chunks/s median  "
        f"({runs(end_to_end_runs)})"
    )
    print(
        f"ratio, median of {len(ratios)} alternating pairs: {100 * statistics.median(ratios):.1f}%  "
        f"({', '.join(f'{100 * r:.0f}%' for r in ratios)})   (target >= 90%)"
    )
    print("CPU seconds spent during each end-to-end run (2 cores: whatever the worker and Postgres use is taken")
    print("from the model), by process:")
    for service_cpu, worker_cpu, postgres_cpu, wall in cpu_runs:
        print(
            f"  wall {wall.total_seconds():5.2f} s: embedding service {service_cpu:5.2f}, worker {worker_cpu:5.2f} "
            f"(extraction child not included), Postgres {postgres_cpu:5.2f}"
        )
    print("worker's own account of each run:")
    for line in log.read_text().splitlines():
        if "ingested" in line and "bench" not in line:
            print("  " + line.split("documents.ingestion: ")[-1])


if __name__ == "__main__":
    sys.path.insert(0, str(BASE_DIR))
    main()
