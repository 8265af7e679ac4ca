"""Fitted models in the store: saved, versioned and seen by every server of one database."""

from __future__ import annotations

from matcher.store.models import ModelStore
from matcher.store.registry import Registry


def test_save_load_and_versions(registry: Registry):
    models = ModelStore(registry.store)
    assert models.load("ranker") is None and models.version("ranker") is None
    assert models.save("ranker", '{"a": 1}') == 1
    assert models.save("ranker", '{"a": 2}') == 2
    assert models.load("ranker") == ('{"a": 2}', 2)
    assert models.version("ranker") == 2
    assert models.load("other") is None


def test_another_server_sees_a_retrain(registry: Registry):
    other = Registry.open(registry.settings, init=False)
    try:
        ModelStore(registry.store).save("ranker", '{"v": 1}')
        seen = ModelStore(other.store)
        assert seen.load("ranker") == ('{"v": 1}', 1)
        ModelStore(registry.store).save("ranker", '{"v": 2}')
        assert seen.version("ranker") == 2 and seen.load("ranker")[0] == '{"v": 2}'
    finally:
        other.close()
