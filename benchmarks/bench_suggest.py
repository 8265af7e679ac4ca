"""Suggestion benchmark: latency of the Suggester on the shipped data with the bundled model.

A fresh registry (SQLite in a temporary folder) is seeded with the shipped dataset; the
Suggester builds its vector index and trains its ranker on first use (the cold start). Then:

- ``suggest`` for every registered organisation (the Suggester keeps no results, so every
  call does the lookup, the data-version check, filtering, sorting and ten explanations),
  ``--passes`` times over the registry; median and p99;
- the same calls with filters (the organisation's own first sector, exclude
  existing, diversify);
- repeated identical requests through the API's cache of rendered bodies
  (:class:`api.present.RenderedSuggestions`, what a server answers a repeated request from);
- ``suggest_for_profile`` for unsaved profiles (includes encoding one text with the model);
- ``score_pairs`` over every EU x MX pair (what the event planner asks for).

    python benchmarks/bench_suggest.py               # 3 passes
    python benchmarks/bench_suggest.py --passes 1

Writes benchmarks/results/suggest.json (or --out) and prints a summary. Target: median of
uncached ``suggest`` under 10 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from api.present import RenderedSuggestions  # noqa: E402
from matcher.embeddings import encoder_for  # noqa: E402
from matcher.profiles import Organisation, OrgType, Side  # noqa: E402
from matcher.store.registry import Registry  # noqa: E402
from matcher.settings import Settings  # noqa: E402
from matcher.ranking import Suggester  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    """Wall-clock median / p99 / mean / max, and the median CPU time of the calling thread
    (less sensitive to other processes competing for the cores)."""
    wall = np.asarray([w for w, _ in samples])
    cpu = np.asarray([c for _, c in samples])
    return {"calls": len(samples), "median_ms": round(float(np.median(wall)), 3),
            "p99_ms": round(float(np.percentile(wall, 99)), 3), "mean_ms": round(float(wall.mean()), 3),
            "max_ms": round(float(wall.max()), 3), "median_cpu_ms": round(float(np.median(cpu)), 3)}


def timed(fn) -> tuple[float, float]:
    """(wall ms, thread CPU ms) of one call."""
    wall, cpu = time.perf_counter(), time.thread_time()
    fn()
    return (time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "suggest.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp), database_url=f"sqlite:///{Path(tmp) / 'c2c.db'}")
        t0 = time.perf_counter()
        encoder = encoder_for(settings.model_path)
        model_load = time.perf_counter() - t0
        with Registry.open(settings) as registry:
            orgs = registry.all_organisations()
            coops = registry.all_cooperations()
            suggester = Suggester(registry, settings, encoder=encoder)
            cold = timed(lambda: suggester.suggest(orgs[0].id, k=10))[0] / 1000
            rss_after_cold = peak_rss_mb()

            plain: list[tuple[float, float]] = []
            filtered: list[tuple[float, float]] = []
            empty = 0
            for _ in range(args.passes):
                for org in orgs:
                    plain.append(timed(lambda: suggester.suggest(org.id, k=10)))
                    sector = org.sectors[0] if org.sectors else None
                    filtered.append(timed(lambda: suggester.suggest(org.id, k=10, sector=sector,
                                                                    exclude_existing=True, diversify=True)))
            for org in orgs:
                empty += not suggester.suggest(org.id, k=10).items
            rendered = RenderedSuggestions()
            cached = [timed(lambda: rendered.get_or_render((orgs[0].id, 10), suggester.results_version,
                                                           lambda: suggester.suggest(orgs[0].id, k=10)))
                      for _ in range(1000)]
            by_name = []
            for org in orgs[:50]:
                by_name.append(timed(lambda: suggester.suggest(org.name, k=10)))

            profiles = [Organisation(id=f"bench-{i}", name=f"Bench profile {i}", side=side, country="MX" if side is Side.MX else "DE",
                                     type=OrgType.CLUSTER, sectors=[sector],
                                     description=f"A cluster of companies working on {sector.replace('-', ' ')} and innovation.")
                        for i, (side, sector) in enumerate([(Side.EU, "wind"), (Side.MX, "aerospace"), (Side.EU, "automotive"),
                                                            (Side.MX, "software"), (Side.EU, "agrifood")] * 6)]
            external = [timed(lambda: suggester.suggest_for_profile(p, k=10)) for p in profiles]

            eu = [o for o in orgs if o.side is Side.EU]
            mx = [o for o in orgs if o.side is Side.MX]
            pairs = [timed(lambda: suggester.score_pairs(eu, mx)) for _ in range(20)]

        result = {
            "benchmark": "suggest",
            "organisations": len(orgs), "eu": len(eu), "mx": len(mx), "cooperations": len(coops),
            "encoder": encoder.name, "model_load_s": round(model_load, 2),
            "cold_start_s": round(cold, 2),
            "suggest_uncached": summary(plain),
            "suggest_uncached_filtered_exclude_diversify": summary(filtered),
            "suggest_by_name_uncached": summary(by_name),
            "api_rendered_cache_hit": summary(cached),
            "suggest_for_profile_with_encoding": summary(external),
            "score_pairs_all_eu_x_mx": summary(pairs),
            "queries_with_no_suggestion_above_threshold": empty,
            "target_median_ms": 10,
            "meets_target": bool(np.median([w for w, _ in plain]) < 10),
            "load_average_1min_at_end": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count(),
            "peak_rss_mb_after_cold_start": round(rss_after_cold, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "python": platform.python_version(), "machine": platform.machine(),
            "note": "wall-clock (see the load average); the Suggester keeps no results, so every suggest call is computed",
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
