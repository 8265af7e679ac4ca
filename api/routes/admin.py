"""Administration (scope ``admin``): refit the ranker, manage API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from api.auth import Admin
from api.deps import KeysDep, ServiceDep
from api.routes.model import card
from api.schemas import KeyCreate, KeyCreated, KeyPublic, ModelCard

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post("/retrain", response_model=ModelCard, summary="Refit the ranker from the stored cooperations")
def retrain(caller: Admin, service: ServiceDep) -> ModelCard:
    service.suggester.train()
    return card(service)


@router.get("/keys", response_model=list[KeyPublic], summary="List API keys")
def list_keys(caller: Admin, keys: KeysDep) -> list[KeyPublic]:
    return [KeyPublic.model_validate(k, from_attributes=True) for k in keys.list()]


@router.post("/keys", response_model=KeyCreated, status_code=status.HTTP_201_CREATED,
             summary="Create an API key; its secret is returned this once")
def new_key(body: KeyCreate, caller: Admin, keys: KeysDep) -> KeyCreated:
    record, secret = keys.issue(body.scope, body.name)
    public = KeyPublic.model_validate(record, from_attributes=True)
    return KeyCreated(**public.model_dump(), secret=secret)


@router.delete("/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Revoke an API key")
def revoke_key(key_id: Annotated[str, Path(min_length=1, max_length=64)], caller: Admin, keys: KeysDep) -> Response:
    keys.revoke(key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
