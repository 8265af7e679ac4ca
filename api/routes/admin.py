"""Administration (scope ``admin``): refit the ranker, manage API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from api.auth import Admin
from api.deps import RegistryDep, ServiceDep
from api.routes.model import card
from api.schemas import KeyCreate, KeyCreated, KeyPublic, ModelCard
from matcher.errors import UnknownApiKey
from matcher.registry import ApiKey, Registry

router = APIRouter(prefix="/admin", tags=["admin"])


def stored_key(registry: Registry, key_id: str) -> ApiKey:
    """The stored record of a key (never its secret or hash)."""
    for key in registry.list_api_keys():
        if key.id == key_id:
            return key
    raise UnknownApiKey(f"no API key has id {key_id!r}")


def create_key(registry: Registry, scope: str, name: str | None) -> tuple[ApiKey, str]:
    """Create a key; returns (stored record, secret). The secret is not kept anywhere."""
    key_id, secret = registry.create_api_key(name=name or f"{scope} key", scope=scope)
    return stored_key(registry, key_id), secret


@router.post("/retrain", response_model=ModelCard, summary="Refit the ranker from the stored cooperations")
def retrain(caller: Admin, service: ServiceDep) -> ModelCard:
    service.suggester.train()
    return card(service)


@router.get("/keys", response_model=list[KeyPublic], summary="List API keys")
def list_keys(caller: Admin, registry: RegistryDep) -> list[KeyPublic]:
    return [KeyPublic.model_validate(k, from_attributes=True) for k in registry.list_api_keys()]


@router.post("/keys", response_model=KeyCreated, status_code=status.HTTP_201_CREATED,
             summary="Create an API key; its secret is returned this once")
def new_key(body: KeyCreate, caller: Admin, registry: RegistryDep) -> KeyCreated:
    record, secret = create_key(registry, body.scope.value, body.name)
    public = KeyPublic.model_validate(record, from_attributes=True)
    return KeyCreated(**public.model_dump(), secret=secret)


@router.delete("/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Revoke an API key")
def revoke_key(
    key_id: Annotated[str, Path(min_length=1, max_length=64)], caller: Admin, registry: RegistryDep
) -> Response:
    registry.revoke_api_key(key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
