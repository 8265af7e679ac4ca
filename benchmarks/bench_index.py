"""Vector index benchmark: HNSW build, query latency and recall at scale; exact search at registry scale.

Synthetic data (seeded): by default ``--data latent``, a Gaussian mixture of 1,000 clusters in a
32-dimensional latent space mapped into 384 dimensions, plus a shared offset and isotropic noise.
Its statistics resemble sentence embeddings: random pairs have cosine ~0.1, a query's nearest
neighbour ~0.83 and its 10th ~0.78. ``--data islands`` is a harder stress case: 1,000 clusters,
each spread in its own random rank-16 subspace, so clusters are nearly disconnected islands.
Uniform noise in 384 dimensions would make every point roughly equidistant and recall meaningless.

Ground truth is exact inner-product search of the same queries, computed chunk by chunk while
the index is filled, so the full vector set is never held twice in memory.

    python benchmarks/bench_index.py              # 1,000,000 vectors (about 10 minutes on 2 cores)
    python benchmarks/bench_index.py --n 20000    # smoke run

Writes benchmarks/results/index.json (or --out) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index import HNSWParams, ItemMeta, SearchFilters, VectorIndex  # noqa: E402

EU_COUNTRIES = ("AT", "BE", "BG", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
                "LT", "LU", "LV", "NL", "PL", "PT", "RO", "SE", "SI", "SK")
#: Metadata of row r is META_POOL[r % 50]: half EU (one of 25 countries each), half MX.
META_POOL = [ItemMeta(side="EU", country=c, sectors=("energy",)) for c in EU_COUNTRIES] + [
    ItemMeta(side="MX", country="MX", sectors=("energy",)) for _ in EU_COUNTRIES]
FILTER_CASES = {
    "side=MX (50% pass)": (SearchFilters(side="MX"), lambda rows: rows % 50 >= 25),
    "country=FI (2% pass)": (SearchFilters(country="FI"), lambda rows: rows % 50 == EU_COUNTRIES.index("FI")),
}
CHUNK = 20_000
TRUTH_BLOCK = 10_000
K = 10


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class LatentMixture:
    """Seeded Gaussian mixture in a low-dimensional latent space, embedded in ``dim`` dimensions."""

    def __init__(self, dim: int, clusters: int, seed: int, latent: int = 32, spread: float = 0.6,
                 offset: float = 0.35, noise: float = 0.25):
        rng = np.random.default_rng(seed)
        self.projection = (rng.standard_normal((latent, dim)) / np.sqrt(latent)).astype(np.float32)
        self.centres = rng.standard_normal((clusters, latent)).astype(np.float32)
        self.weights = rng.dirichlet(np.full(clusters, 2.0))
        self.offset = offset * unit(rng.standard_normal((1, dim)))[0]
        self.dim, self.latent, self.spread, self.noise = dim, latent, spread, noise

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        labels = rng.choice(len(self.centres), size=n, p=self.weights)
        z = self.centres[labels] + self.spread * rng.standard_normal((n, self.latent), dtype=np.float32)
        noise = unit(rng.standard_normal((n, self.dim), dtype=np.float32))
        return unit(unit(z @ self.projection) + self.offset + self.noise * noise)


class IslandMixture:
    """Seeded two-level Gaussian mixture of unit vectors whose clusters have their own rank-16 spread."""

    def __init__(self, dim: int, clusters: int, seed: int, groups: int = 50, rank: int = 16,
                 spread: float = 0.22, noise: float = 0.12):
        rng = np.random.default_rng(seed)
        topics = unit(rng.standard_normal((groups, dim)))
        parent = rng.integers(0, groups, clusters)
        self.centres = unit(topics[parent] + 0.9 * unit(rng.standard_normal((clusters, dim))))
        self.bases = (rng.standard_normal((clusters, rank, dim)) / np.sqrt(dim)).astype(np.float32)
        self.weights = rng.dirichlet(np.full(clusters, 2.0))
        self.dim, self.rank, self.spread, self.noise = dim, rank, spread, noise

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        labels = rng.choice(len(self.centres), size=n, p=self.weights)
        out = self.centres[labels] + (self.noise / np.sqrt(self.dim)) * rng.standard_normal((n, self.dim),
                                                                                             dtype=np.float32)
        z = self.spread * rng.standard_normal((n, self.rank), dtype=np.float32)
        order = np.argsort(labels, kind="stable")
        bounds = np.flatnonzero(np.diff(labels[order])) + 1
        for rows in np.split(order, bounds):
            out[rows] += z[rows] @ self.bases[labels[rows[0]]]
        return unit(out)


def merge_topk(best_s: np.ndarray, best_i: np.ndarray, scores: np.ndarray, row_ids: np.ndarray, k: int):
    """Fold a (queries, rows) score block into the running top-k (scores, global row ids)."""
    kk = min(k, scores.shape[1])
    if kk == 0:
        return best_s, best_i
    part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    cand_s = np.concatenate([best_s, np.take_along_axis(scores, part, 1)], axis=1)
    cand_i = np.concatenate([best_i, row_ids[part]], axis=1)
    top = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(cand_s, top, 1), np.take_along_axis(cand_i, top, 1)


def build(args, mixture, queries: np.ndarray):
    """Fill an HNSW VectorIndex chunk by chunk; exact top-k of every query and filter on the side."""
    idx = VectorIndex(args.dim, "synthetic", kind="hnsw",
                      params=HNSWParams(m=args.m, ef_construction=args.ef_construction, ef_search=64))
    idx.reserve(args.n)
    rng = np.random.default_rng(args.seed + 1)
    truth = {name: (np.full((len(queries), 0), -np.inf, np.float32), np.zeros((len(queries), 0), np.int64))
             for name in ["none", *FILTER_CASES]}
    build_s = truth_s = 0.0
    faiss.omp_set_num_threads(args.threads)
    for start in range(0, args.n, CHUNK):
        chunk = mixture.sample(min(CHUNK, args.n - start), rng)
        rows = np.arange(start, start + len(chunk))
        t0 = time.perf_counter()
        idx.add_many([f"v{r}" for r in rows], chunk, [META_POOL[r % 50] for r in rows])
        build_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        for block in range(0, len(chunk), TRUTH_BLOCK):
            part_rows = rows[block:block + TRUTH_BLOCK]
            scores = queries @ chunk[block:block + TRUTH_BLOCK].T
            truth["none"] = merge_topk(*truth["none"], scores, part_rows, K)
            for name, (_, passes) in FILTER_CASES.items():
                keep = np.flatnonzero(passes(part_rows))
                truth[name] = merge_topk(*truth[name], scores[:, keep], part_rows[keep], K)
        truth_s += time.perf_counter() - t0
        print(f"  {start + len(chunk):>9,} vectors  build {build_s:7.1f}s  rss {current_rss_mb():7.0f} MB",
              flush=True)
    return idx, truth, build_s, truth_s


def data_stats(mixture, queries: np.ndarray, seed: int) -> dict:
    """Cosine of random pairs and of a query's 1st and 10th neighbour among 50,000 fresh points."""
    sample = mixture.sample(50_000, np.random.default_rng(seed + 9))
    top = np.sort(queries[:200] @ sample.T, axis=1)[:, ::-1]
    return {"random_pair_cosine": round(float((sample[:1000] @ sample[1000:2000].T).mean()), 3),
            "nn1_cosine_in_50k": round(float(top[:, 0].mean()), 3),
            "nn10_cosine_in_50k": round(float(top[:, 9].mean()), 3)}


def time_queries(idx: VectorIndex, queries: np.ndarray, filters=None) -> tuple[np.ndarray, list[list[str]]]:
    for q in queries[:50]:
        idx.search(q, K, filters)
    times, results = [], []
    for q in queries:
        t0 = time.perf_counter_ns()
        hits = idx.search(q, K, filters)
        times.append(time.perf_counter_ns() - t0)
        results.append([i for i, _ in hits])
    return np.array(times) / 1e6, results


def recall(results: list[list[str]], truth_rows: np.ndarray) -> float:
    return float(np.mean([len({int(i[1:]) for i in got} & set(want.tolist())) / K
                          for got, want in zip(results, truth_rows)]))


def latency_summary(ms: np.ndarray) -> dict:
    return {"median_ms": round(float(np.median(ms)), 4), "p99_ms": round(float(np.percentile(ms, 99)), 4),
            "mean_ms": round(float(ms.mean()), 4)}


def sweep(idx: VectorIndex, queries, truth, ef_values, threads_list) -> list[dict]:
    rows = []
    for ef in ef_values:
        idx.set_ef_search(ef)
        for threads in threads_list:
            faiss.omp_set_num_threads(threads)
            ms, results = time_queries(idx, queries)
            rows.append({"ef_search": ef, "threads": threads, "recall_at_10": round(recall(results, truth), 4),
                         **latency_summary(ms)})
            print(f"  efSearch {ef:>4}  threads {threads}  recall@10 {rows[-1]['recall_at_10']:.4f}  "
                  f"median {rows[-1]['median_ms']:.3f} ms  p99 {rows[-1]['p99_ms']:.3f} ms", flush=True)
    return rows


def exact_small(args, mixture) -> list[dict]:
    """Exact-search latency at the shipped registry's scale (a few hundred profiles)."""
    out = []
    rng = np.random.default_rng(args.seed + 7)
    faiss.omp_set_num_threads(1)
    for n in (300, 1000, 5000):
        vectors = mixture.sample(n, rng)
        idx = VectorIndex.build([f"v{i}" for i in range(n)], vectors, [META_POOL[i % 50] for i in range(n)],
                                model_name="synthetic", kind="exact")
        queries = mixture.sample(500, rng)
        plain, _ = time_queries(idx, queries)
        filtered, _ = time_queries(idx, queries, SearchFilters(side="MX", exclude_ids=["v1", "v3"]))
        out.append({"n": n, "unfiltered": latency_summary(plain), "side_filter": latency_summary(filtered)})
        print(f"  exact n={n:>5}: median {out[-1]['unfiltered']['median_ms']:.3f} ms, "
              f"filtered {out[-1]['side_filter']['median_ms']:.3f} ms", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="indexed vectors")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--data", choices=("latent", "islands"), default="latent",
                        help="synthetic distribution (see the module docstring)")
    parser.add_argument("--m", type=int, default=16, help="HNSW links per node")
    parser.add_argument("--ef-construction", type=int, default=40)
    parser.add_argument("--ef-search", default="16,32,64,128,192,256,384,512", help="comma-separated values to sweep")
    parser.add_argument("--threads", type=int, default=2, help="threads while building")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "index.json")
    args = parser.parse_args()
    ef_values = [int(v) for v in args.ef_search.split(",")]
    started, load_start = time.time(), os.getloadavg()

    mixture = (LatentMixture if args.data == "latent" else IslandMixture)(args.dim, args.clusters, args.seed)
    queries = mixture.sample(args.queries, np.random.default_rng(args.seed + 2))
    print(f"building HNSW over {args.n:,} x {args.dim} (M={args.m}, efConstruction={args.ef_construction}, "
          f"{args.threads} threads)", flush=True)
    idx, truth, build_s, truth_s = build(args, mixture, queries)
    rss_after_build = current_rss_mb()

    print("single-query latency and recall@10 against exact search:", flush=True)
    rows = sweep(idx, queries, truth["none"][1], ef_values, (1, 2))
    passing = [r for r in rows if r["recall_at_10"] >= 0.95 and r["threads"] == 1]
    chosen_ef = min((r["ef_search"] for r in passing), default=max(ef_values))
    chosen = {f"threads_{r['threads']}": r for r in rows if r["ef_search"] == chosen_ef}

    print(f"filtered queries at efSearch {chosen_ef}:", flush=True)
    idx.set_ef_search(chosen_ef)
    faiss.omp_set_num_threads(1)
    filtered = []
    for name, (filters, _) in FILTER_CASES.items():
        ms, results = time_queries(idx, queries, filters)
        filtered.append({"filter": name, "recall_at_10": round(recall(results, truth[name][1]), 4),
                         "all_results_pass": all(len(r) == K for r in results), **latency_summary(ms)})
        print(f"  {name}: recall@10 {filtered[-1]['recall_at_10']:.4f}  median {filtered[-1]['median_ms']:.3f} ms"
              f"  p99 {filtered[-1]['p99_ms']:.3f} ms", flush=True)

    print("exact search at registry scale:", flush=True)
    small = exact_small(args, mixture)
    index_mb = idx.memory_bytes() / 2**20
    peak = peak_rss_mb()
    best = chosen.get("threads_1", {})
    result = {
        "benchmark": "index",
        "config": {"n": args.n, "dim": args.dim, "queries": args.queries, "k": K, "clusters": args.clusters,
                   "hnsw_m": args.m, "ef_construction": args.ef_construction, "build_threads": args.threads,
                   "seed": args.seed, "data": args.data,
                   "data_stats": data_stats(mixture, queries, args.seed)},
        "build": {"seconds": round(build_s, 1), "vectors_per_second": round(args.n / build_s),
                  "ground_truth_seconds": round(truth_s, 1)},
        "ef_sweep": rows,
        "chosen": {"ef_search": chosen_ef, "rule": "smallest efSearch with recall@10 >= 0.95 (1 thread)", **chosen},
        "filtered": filtered,
        "exact_registry_scale": small,
        "memory": {"peak_rss_mb": round(peak), "rss_after_build_mb": round(rss_after_build),
                   "index_bytes_mb": round(index_mb), "vectors_mb": round(args.n * args.dim * 4 / 2**20)},
        "targets": {"latency_ms": 2.0, "recall_at_10": 0.95, "memory_mb": 2560,
                    "met": bool(best and best["median_ms"] < 2.0 and best["recall_at_10"] >= 0.95 and peak < 2560)},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "faiss": faiss.__version__, "numpy": np.__version__,
                    "loadavg_start": [round(v, 2) for v in load_start],
                    "loadavg_end": [round(v, 2) for v in os.getloadavg()]},
        "wall_seconds": round(time.time() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nHNSW n={args.n:,}: build {build_s:.0f}s; efSearch {chosen_ef}: recall@10 {best.get('recall_at_10')}, "
          f"median {best.get('median_ms')} ms, p99 {best.get('p99_ms')} ms (1 thread); index {index_mb:.0f} MB, "
          f"peak RSS {peak:.0f} MB; targets met: {result['targets']['met']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
