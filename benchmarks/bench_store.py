"""Registry speed on SQLite and PostgreSQL: seeding, lookups, listings, bulk import.

Writes medians and p99 (milliseconds) to ``benchmarks/results/store.json``. PostgreSQL is
measured only when the local server at 127.0.0.1:5432/test answers (in a throwaway schema).

    python benchmarks/bench_store.py [--repeat 200] [--bulk 1000]
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from matcher.dataset import load_dataset
from matcher.store.registry import Registry
from matcher.settings import Settings

RESULTS = Path(__file__).parent / "results" / "store.json"
PG = "host=127.0.0.1 port=5432 dbname=test connect_timeout=3"


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 3),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3),
        "n": repeat,
    }


def bulk_profiles(n: int) -> list[dict[str, Any]]:
    sectors = ["wind", "solar", "aerospace", "automotive", "software", "health", "agrifood"]
    return [
        {
            "id": f"bench-org-{i}",
            "name": f"Benchmark Organisation {i}",
            "side": "EU" if i % 2 else "MX",
            "country": "DE" if i % 2 else "MX",
            "type": "cluster_organisation",
            "sectors": [sectors[i % len(sectors)]],
            "description": f"Synthetic profile number {i} for timing imports.",
            "sources": [{"document": "bench", "section": str(i)}],
        }
        for i in range(n)
    ]


def measure(url: str, home: Path, repeat: int, bulk: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    start = time.perf_counter()
    registry = Registry.open(Settings(database_url=url, home=home), progress=False)
    out["open_migrate_seed_s"] = round(time.perf_counter() - start, 3)
    out["organisations"] = registry.count_organisations()
    first = registry.all_organisations()[0]
    out["get"] = timed(lambda: registry.get(first.id), repeat)
    out["lookup_exact_name"] = timed(lambda: registry.lookup(first.name.upper()), repeat)
    typo = first.name[:-2] + first.name[-1]
    out["lookup_typo"] = timed(lambda: _safe(registry.lookup, typo), repeat)
    out["lookup_unknown_with_suggestions"] = timed(lambda: _safe(registry.lookup, "no such cluster anywhere"), repeat)
    out["list_sector_energy"] = timed(lambda: registry.list_organisations(sector="energy"), repeat)
    out["all_organisations"] = timed(registry.all_organisations, max(10, repeat // 10))
    out["data_version"] = timed(registry.data_version, repeat)

    records = bulk_profiles(bulk)
    path = home / "bulk.json"
    path.write_text(json.dumps(records))
    start = time.perf_counter()
    report = registry.import_file(path, progress=False)
    out[f"import_{bulk}_new_s"] = round(time.perf_counter() - start, 3)
    start = time.perf_counter()
    again = registry.import_file(path, progress=False)
    out[f"reimport_{bulk}_unchanged_s"] = round(time.perf_counter() - start, 3)
    if report.created != bulk or again.unchanged != bulk:
        raise RuntimeError(f"bulk import went wrong: {report.summary()} / {again.summary()}")
    registry.close()
    return out


def _safe(fn: Callable[[str], Any], arg: str) -> Any:
    try:
        return fn(arg)
    except Exception as exc:  # a miss is part of what is measured
        return exc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--bulk", type=int, default=1000)
    args = parser.parse_args()
    load_dataset()
    results: dict[str, Any] = {"repeat": args.repeat, "bulk": args.bulk}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        results["sqlite"] = measure(f"sqlite:///{home / 'bench.db'}", home, args.repeat, args.bulk)
    try:
        import psycopg

        schema = f"c2c_bench_{secrets.token_hex(4)}"
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            with tempfile.TemporaryDirectory() as tmp:
                url = f"postgresql+psycopg://@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
                results["postgres"] = measure(url, Path(tmp), args.repeat, args.bulk)
        finally:
            with psycopg.connect(PG, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    except Exception as exc:  # no server: record why instead of a figure
        results["postgres"] = {"skipped": f"{type(exc).__name__}: {exc}"}
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
