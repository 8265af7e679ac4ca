"""Checking values given to the store: enum choices, whole records, JSON merge patches.

Every failure is an :class:`~matcher.errors.InvalidProfile` naming the offending field.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from matcher.errors import InvalidProfile
from matcher.profiles import Organisation, error_field

E = TypeVar("E", bound=Enum)
M = TypeVar("M", bound=BaseModel)


def choice(cls: type[E], value: E | str, field: str, upper: bool = False) -> E:
    """``value`` as a member of ``cls`` (by value; upper-cased first when ``upper``)."""
    if isinstance(value, cls):
        return value
    text = str(value).strip()
    try:
        return cls(text.upper() if upper else text)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in cls)
        raise InvalidProfile(f"{value!r} is not one of {allowed}", field) from None


def validate_model(model: type[M], data: M | dict[str, Any]) -> M:
    """``data`` as ``model``; a schema violation raises InvalidProfile naming the field."""
    if isinstance(data, model):
        return data
    if not isinstance(data, dict):
        raise InvalidProfile(f"expected an object, got {type(data).__name__}", "record")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = error_field(err) or ("country" if model is Organisation else "record")
        raise InvalidProfile(err["msg"], field) from None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge recursively, ``null`` removes a field."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
