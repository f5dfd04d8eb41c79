"""ML predictions: latency (p50/p95) and rows/s of house-price through the API vs calling the pipeline in-process.

The API path is the whole of it: a web process (Daphne, production settings' entry point) on the bench database,
an API key with the ``ml`` scope, one keep-alive connection, ``POST /api/v1/ml/house-price/predict/`` (auth, scope,
rate limits, alias read, schema check, prediction, count). In-process is ``pipeline.predict`` on the same rows, in
this process. Single rows, then batches of 100 rows.

    .venv/bin/python bench/ml.py [--single 500] [--batches 100]
"""

import argparse
import os
import statistics
import time

import httpx
from _harness import BASE_DIR, Child, bench_database, free_port, percentile

BATCH = 100


def rows(count: int, offset: int = 0) -> list[dict]:
    """Varied houses, so no layer could answer from a cache."""
    areas = [40 + (offset + index) % 160 for index in range(count)]
    hoods = ["centre", "riverside", "university", "suburbs", "industrial"]
    return [
        {
            "area_m2": float(area),
            "bedrooms": 1 + area // 40,
            "bathrooms": 1 + area // 100,
            "age_years": float((offset + index) % 70),
            "distance_km": 0.5 + (index % 15),
            "neighbourhood": hoods[(offset + index) % len(hoods)],
        }
        for index, area in enumerate(areas)
    ]


def timed(call, inputs: list) -> list[float]:
    latencies = []
    for item in inputs:
        started = time.perf_counter()
        call(item)
        latencies.append(time.perf_counter() - started)
    return latencies


def report(label: str, latencies: list[float], rows_each: int) -> None:
    p50, p95 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.95) * 1000
    throughput = rows_each * len(latencies) / sum(latencies)
    print(f"| {label} | {p50:.2f} | {p95:.2f} | {throughput:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=500, help="single-row predictions per path")
    parser.add_argument("--batches", type=int, default=100, help=f"batches of {BATCH} rows per path")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = bench_database("genaisite_bench_ml")
    os.environ["DATA_DIR"] = str(BASE_DIR / "var" / "bench-ml")  # the artifacts (media), for this process and the web
    os.environ["ML_REQUESTS_PER_MINUTE"] = "1000000"  # the limits are not what is measured
    os.environ["ML_ENSURE_BUILTINS"] = "false"
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import RolePolicy, User
    from accounts.services import api_key_create
    from ml import serving
    from ml.builtins import builtin
    from ml.selectors import resolve

    call_command("train_model", "house-price", csv=builtin("house-price").csv, alias="production", verbosity=0)
    RolePolicy.objects.update(requests_per_minute=1_000_000)
    user = User.objects.create_user(username="bench", password="bench-password-123")
    _, key = api_key_create(user=user, name="bench", scopes=["ml", "read"])
    pipeline = serving.loaded(resolve("house-price").version).estimator  # loaded as the web process loads it

    from genaisite.webserver import web_server_command

    port = free_port()
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "genaisite.settings.development"}
    web = Child(web_server_command(host="127.0.0.1", port=port), env, ready_url=f"http://127.0.0.1:{port}/healthz")
    try:
        measure(args, pipeline, f"http://127.0.0.1:{port}/api/v1/ml/house-price/predict/", key)
    finally:
        web.stop()


def measure(args, pipeline, url: str, key: str) -> None:
    singles = [rows(1, offset)[0] for offset in range(args.single)]
    batches = [rows(BATCH, offset) for offset in range(args.batches)]
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:

        def through_api(inputs) -> None:
            response = client.post(url, json={"inputs": inputs})
            response.raise_for_status()

        def me(_) -> None:  # the same stack and key, no model: what any API request costs here
            client.get(url.split("/api/v1/")[0] + "/api/v1/me/").raise_for_status()

        for item in singles[:20]:  # warm: connections, the web process's first load of the version
            through_api(item)
        pipeline.predict(batches[0])
        results = [
            ("single row, in-process `pipeline.predict`", timed(lambda row: pipeline.predict([row]), singles), 1),
            ("single row, through the API", timed(through_api, singles), 1),
            ("baseline: `GET /api/v1/me/` with the same key", timed(me, singles), 1),
            (f"{BATCH} rows, in-process", timed(pipeline.predict, batches), BATCH),
            (f"{BATCH} rows, through the API", timed(through_api, batches), BATCH),
        ]
    print(f"\n{args.single} single-row and {args.batches} {BATCH}-row predictions of house-price, one at a time")
    print("| path | p50 ms | p95 ms | rows/s |")
    print("|---|---|---|---|")
    for label, latencies, rows_each in results:
        report(label, latencies, rows_each)
    api, local = statistics.median(results[1][1]), statistics.median(results[0][1])
    print(f"\nthe API adds {1000 * (api - local):.2f} ms (p50) to a single-row prediction")


if __name__ == "__main__":
    main()
