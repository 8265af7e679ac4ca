"""How much the evaluation figures move with the seed → ``results/evaluation/seeds.json``.

The seed draws the ranker's negative (non-pair) training samples in every fold and breaks
ties; the headline figures in ``results/evaluation/`` use seed 0. This script runs the same
evaluation (both protocols, every method, the bundled model) for seeds 0 to ``--seeds - 1``
without bootstrap, and records each seed's point figures and their median, minimum and
maximum, so a reader can tell a real difference from the luck of one draw. It never picks a
seed: the headline stays seed 0.

    python benchmarks/eval_seeds.py               # 10 seeds, about a minute
    python benchmarks/eval_seeds.py --seeds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tqdm import tqdm  # noqa: E402

from matcher.dataset import load_dataset  # noqa: E402
from matcher.embeddings import get_encoder  # noqa: E402
from matcher.text import profile_text  # noqa: E402
from matcher.evaluation import evaluate  # noqa: E402
from matcher.taxonomy import load_taxonomy  # noqa: E402

METRICS = ("hit@1", "hit@5", "hit@10", "mrr", "reciprocal_hit@10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 .. N-1")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "evaluation" / "seeds.json")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")

    started, load_start = time.time(), os.getloadavg()
    dataset = load_dataset()
    taxonomy = load_taxonomy()
    encoder = get_encoder()
    texts = [profile_text(o, taxonomy) for o in dataset.organisations]
    vectors = encoder.encode(texts)

    per_seed: dict[str, dict[str, dict[str, list[float]]]] = {}
    for seed in tqdm(range(args.seeds), desc="seeds", unit="seed"):
        result = evaluate(dataset.organisations, dataset.cooperations, vectors, taxonomy=taxonomy, texts=texts,
                          resamples=0, seed=seed, encoder_name=encoder.name)
        for protocol, res in result.protocols.items():
            for method, metrics in res.metrics.items():
                slot = per_seed.setdefault(protocol, {}).setdefault(method, {m: [] for m in METRICS})
                for m in METRICS:
                    slot[m].append(round(metrics[m].value, 4))

    summary = {
        protocol: {
            method: {m: {"median": round(statistics.median(v), 4), "min": min(v), "max": max(v), "per_seed": v}
                     for m, v in metrics.items()}
            for method, metrics in methods.items()
        }
        for protocol, methods in per_seed.items()
    }
    out = {
        "benchmark": "evaluation across seeds",
        "seeds": list(range(args.seeds)),
        "headline_seed": 0,
        "encoder": encoder.name,
        "organisations": len(dataset.organisations),
        "cooperations": len(dataset.cooperations),
        "protocols": summary,
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "duration_s": round(time.time() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    for protocol, methods in summary.items():
        print(protocol)
        for method, metrics in methods.items():
            print(f"  {method:<18} " + "  ".join(
                f"{m} {metrics[m]['median']:.3f} [{metrics[m]['min']:.3f}, {metrics[m]['max']:.3f}]"
                for m in ("hit@10", "mrr")))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
