"""The model card (``GET /model``): what the suggestions are computed with."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import Reader
from api.deps import ServiceDep
from api.schemas import ModelCard
from matcher.scorecard import last_evaluation
from matcher.service import Service

router = APIRouter(tags=["suggestions"])


def card(service: Service) -> ModelCard:
    """The model card: embedding model, data version, ranker and last evaluation."""
    ranker = service.suggester.model_card()
    encoder = service.suggester.encoder
    return ModelCard(
        embedding_model=encoder.name,
        embedding_dim=encoder.dim,
        data_version=service.registry.data_version(),
        ranker_training_pairs=ranker.get("training_pairs"),
        ranker=ranker,
        evaluation=last_evaluation(service.settings),
    )


@router.get("/model", response_model=ModelCard,
            summary="Embedding model and dimension, data version, ranker training pairs, last evaluation")
def model_card(caller: Reader, service: ServiceDep) -> ModelCard:
    return card(service)
