"""Encoding benchmark: load time and throughput of the bundled sentence-transformers model.

Texts are profile texts (:func:`matcher.text.profile_text`) of synthetic organisations
built from the shipped taxonomy, with English or Spanish descriptions of typical length, plus
the shipped registry's own profiles when the dataset loads.

    python benchmarks/bench_encode.py                 # 256 texts, batch sizes 16/32/64, 3 runs each
    python benchmarks/bench_encode.py --texts 128 --runs 2

Writes benchmarks/results/encode.json (or --out) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matcher.profiles import Organisation  # noqa: E402
from matcher.taxonomy import load_taxonomy  # noqa: E402

EN_PARTS = [
    "The cluster brings together {n} companies, universities and technology centres",
    "working on {s} across the region",
    "It runs joint projects on internationalisation, skills and innovation",
    "Members range from small suppliers to large manufacturers",
    "Priorities include digitalisation, sustainability and access to new markets such as Mexico",
]
ES_PARTS = [
    "El clúster reúne a {n} empresas, universidades y centros tecnológicos",
    "que trabajan en {s} en todo el estado",
    "Impulsa proyectos conjuntos de internacionalización, formación e innovación",
    "Sus socios van desde pequeños proveedores hasta grandes fabricantes",
    "Entre sus prioridades están la digitalización, la sostenibilidad y el acceso a mercados europeos",
]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_profiles(count: int, seed: int) -> list[Organisation]:
    """Organisations with random taxonomy sectors and a 3-5 sentence description."""
    rng = random.Random(seed)
    taxonomy = load_taxonomy()
    sector_ids = sorted(taxonomy.sectors)
    out = []
    for i in range(count):
        spanish = i % 2 == 1
        sectors = rng.sample(sector_ids, rng.randint(1, 3))
        names = [taxonomy[s].name_es if spanish else taxonomy[s].name for s in sectors]
        parts = ES_PARTS if spanish else EN_PARTS
        sentences = [p.format(n=rng.randint(15, 400), s=", ".join(names).lower())
                     for p in parts[: rng.randint(3, 5)]]
        out.append(Organisation(
            id=f"org-{i}", name=("Clúster " if spanish else "Cluster ") + " ".join(names[:1]) + f" {i}",
            side="MX" if spanish else "EU", country="MX" if spanish else "ES", type="cluster_organisation",
            sectors=sectors, description=". ".join(sentences) + ".",
        ))
    return out


def shipped_profiles() -> list[Organisation]:
    try:
        from matcher.dataset import load_dataset

        return list(load_dataset().organisations)
    except Exception as exc:  # the dataset may be mid-curation; the benchmark still runs
        print(f"(shipped dataset not usable: {exc})")
        return []


def throughput(encoder, texts: list[str], batch_size: int, runs: int) -> dict:
    encoder.batch_size = batch_size
    encoder.encode(texts[: batch_size * 2])
    rates = []
    for _ in range(runs):
        t0 = time.perf_counter()
        encoder.encode(texts)
        rates.append(len(texts) / (time.perf_counter() - t0))
    return {"batch_size": batch_size, "texts_per_second_median": round(statistics.median(rates), 1),
            "texts_per_second_runs": [round(r, 1) for r in rates]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-sizes", default="16,32,64")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "encode.json")
    args = parser.parse_args()
    started, load_start = time.time(), os.getloadavg()

    t0 = time.perf_counter()
    import sentence_transformers  # noqa: F401  (the model stack: torch, transformers)

    from matcher.embeddings import SentenceTransformerEncoder
    from matcher.text import profile_text
    from matcher.settings import minilm_model_path

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    encoder = SentenceTransformerEncoder(minilm_model_path())
    model = encoder._load()  # the encoder loads its model lazily, on first use; time it here
    load_s = time.perf_counter() - t0
    print(f"model {encoder.name} (dim {encoder.dim}): import {import_s:.2f}s, load {load_s:.2f}s", flush=True)

    taxonomy = load_taxonomy()
    texts = [profile_text(o, taxonomy) for o in synthetic_profiles(args.texts, args.seed)]
    max_len = model.max_seq_length
    lengths = [len(ids) for ids in model.tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]]
    rows = []
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        rows.append(throughput(encoder, texts, batch_size, args.runs))
        print(f"  batch {batch_size:>3}: {rows[-1]['texts_per_second_median']:.1f} texts/s "
              f"(runs {rows[-1]['texts_per_second_runs']})", flush=True)

    shipped = shipped_profiles()
    shipped_row = None
    if shipped:
        shipped_texts = [profile_text(o, taxonomy) for o in shipped]
        encoder.batch_size = 32
        t0 = time.perf_counter()
        encoder.encode(shipped_texts)
        seconds = time.perf_counter() - t0
        shipped_row = {"profiles": len(shipped), "seconds": round(seconds, 2),
                       "texts_per_second": round(len(shipped) / seconds, 1)}
        print(f"  shipped registry: {len(shipped)} profiles in {seconds:.2f}s", flush=True)

    import torch

    best = max(rows, key=lambda r: r["texts_per_second_median"])
    result = {
        "benchmark": "encode",
        "model": {"name": encoder.name, "dim": encoder.dim, "path": str(encoder.path)},
        "texts": {"count": len(texts), "mean_chars": round(statistics.mean(len(t) for t in texts)),
                  "mean_tokens": round(statistics.mean(lengths), 1), "max_seq_length": max_len, "kind": "synthetic profile texts, half Spanish"},
        "import_seconds": round(import_s, 2),
        "load_seconds": round(load_s, 2),
        "throughput": rows,
        "best": {"batch_size": best["batch_size"], "texts_per_second": best["texts_per_second_median"]},
        "shipped_registry": shipped_row,
        "memory": {"peak_rss_mb": round(peak_rss_mb())},
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "loadavg_start": [round(v, 2) for v in load_start],
                    "loadavg_end": [round(v, 2) for v in os.getloadavg()]},
        "runs": args.runs,
        "wall_seconds": round(time.time() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nload {load_s:.2f}s; best {best['texts_per_second_median']:.1f} texts/s at batch {best['batch_size']}; "
          f"peak RSS {peak_rss_mb():.0f} MB")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
