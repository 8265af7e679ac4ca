"""The model card (``GET /model``): what the suggestions are computed with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends

from api.auth import Caller, read_access
from api.deps import get_registry, get_suggester
from api.schemas import ModelCard
from matcher.settings import Settings

_REPO = Path(__file__).resolve().parents[2]


def evaluation_files(settings: Settings) -> list[Path]:
    """Where ``c2c evaluate --out DIR`` results are looked for, most specific first."""
    return [
        Path(settings.home) / "evaluation" / "results.json",
        _REPO / "benchmarks" / "results" / "evaluation" / "results.json",
        _REPO / "benchmarks" / "results" / "evaluation.json",
    ]


def last_evaluation(settings: Settings) -> dict[str, Any] | None:
    """Headline figures of the newest readable evaluation results file, if any."""
    found = [p for p in evaluation_files(settings) if p.is_file()]
    for path in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            protocols = {
                name: {
                    "pairs": proto.get("pairs"),
                    "methods": {
                        method: {metric: est.get("value") if isinstance(est, dict) else est for metric, est in metrics.items()}
                        for method, metrics in proto.get("methods", {}).items()
                    },
                }
                for name, proto in data.get("protocols", {}).items()
            }
        except (OSError, ValueError, AttributeError):
            continue
        return {"file": str(path), "settings": data.get("settings", {}), "protocols": protocols}
    return None


def card(registry: Any, suggester: Any, settings: Settings) -> ModelCard:
    """The model card: embedding model, data version, ranker and last evaluation."""
    ranker = suggester.model_card()
    encoder = suggester.encoder
    return ModelCard(
        embedding_model=encoder.name,
        embedding_dim=encoder.dim,
        data_version=registry.data_version(),
        ranker_training_pairs=ranker.get("training_pairs"),
        ranker=ranker,
        evaluation=last_evaluation(settings),
    )


def build(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["suggestions"])

    @router.get("/model", response_model=ModelCard,
                summary="Embedding model and dimension, data version, ranker training pairs, last evaluation")
    def model_card(
        caller: Caller = Depends(read_access),
        registry: Any = Depends(get_registry),
        suggester: Any = Depends(get_suggester),
    ) -> ModelCard:
        return card(registry, suggester, settings)

    return router
