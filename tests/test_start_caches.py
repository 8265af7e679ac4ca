"""What a server keeps on disk between starts besides the index: the fitted text model and the
large-registry reference probabilities. Read back, they equal what a fresh computation gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matcher.features import FeatureContext, fit_text_model
from matcher.ranker import DEFAULT_C, DEFAULT_NEGATIVES, fit_ranker
from matcher.ranking.estimates import reference
from matcher.settings import Settings
from matcher.taxonomy import load_taxonomy
from matcher.text import profile_text
from matcher.textmodel import TextModelCache
from tests import ranker_fixtures as fx


@pytest.fixture(scope="module")
def texts() -> list[str]:
    tax = load_taxonomy()
    return [profile_text(o, tax) for o in fx.organisations()]


def test_the_text_model_is_read_back_as_fitted(tmp_path: Path, texts: list[str]):
    cache = TextModelCache(tmp_path / "text.npz")
    fitted_vec, fitted = cache.get(texts)
    assert (tmp_path / "text.npz").is_file()
    read_vec, read = cache.get(texts)
    assert read_vec is not fitted_vec
    assert read_vec.vocabulary_ == fitted_vec.vocabulary_
    np.testing.assert_array_equal(read_vec.idf_, fitted_vec.idf_)
    for a, b in ((read, fitted), (read_vec.transform(["Wind energy cluster, aerospace"]),
                                  fitted_vec.transform(["Wind energy cluster, aerospace"]))):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a.indptr, b.indptr)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.data, b.data)
    fresh_vec, fresh = fit_text_model(texts)
    assert fresh_vec.vocabulary_ == read_vec.vocabulary_ and (fresh != read).nnz == 0


def test_other_texts_or_a_damaged_file_are_fitted_again(tmp_path: Path, texts: list[str]):
    path = tmp_path / "text.npz"
    cache = TextModelCache(path)
    cache.get(texts)
    changed = texts[:-1] + [texts[-1] + " hydrogen"]
    vec, rows = cache.get(changed)
    assert "hydrogen" in vec.vocabulary_ and rows.shape[0] == len(texts)
    assert "hydrogen" in cache.get(changed)[0].vocabulary_
    path.write_bytes(b"not an archive")
    vec, _ = cache.get(texts)
    assert "hydrogen" not in vec.vocabulary_


def test_a_context_built_from_a_read_back_text_model_has_the_same_features(tmp_path: Path, texts: list[str]):
    orgs, tax = fx.organisations(), load_taxonomy()
    vectors = fx.vectors(orgs)
    plain = FeatureContext.build(orgs, fx.cooperations(), vectors, tax)
    cache = TextModelCache(tmp_path / "text.npz")
    cache.get(texts)
    cached = FeatureContext.build(orgs, fx.cooperations(), vectors, tax, text=cache.get(texts))
    np.testing.assert_array_equal(cached.grid(), plain.grid())


def test_reference_probabilities_are_read_back_for_the_same_version_only(tmp_path: Path, monkeypatch):
    orgs, tax = fx.organisations(), load_taxonomy()
    ctx = FeatureContext.build(orgs, fx.cooperations(), fx.vectors(orgs), tax)
    model = fit_ranker(ctx, DEFAULT_C, DEFAULT_NEGATIVES, 0)
    other = fit_ranker(ctx, DEFAULT_C / 10, DEFAULT_NEGATIVES, 0)
    settings = Settings(home=tmp_path, reference_sample=4)
    path = tmp_path / "reference.npz"
    sample, computed = reference(ctx, model, settings)
    written = reference(ctx, model, settings, cache=path, version="v1")[1]
    assert path.is_file()
    for side in computed:
        assert computed[side].shape == (len(ctx.ids(side)), 4)
        np.testing.assert_array_equal(written[side], computed[side])

    def no_grid(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(FeatureContext, "grid", no_grid)
    again_sample, again = reference(ctx, model, settings, cache=path, version="v1")
    for side in computed:
        np.testing.assert_array_equal(again_sample[side], sample[side])
        np.testing.assert_array_equal(again[side], computed[side])
    with pytest.raises(AssertionError, match="computed again"):
        reference(ctx, model, settings, cache=path, version="v2")
    with pytest.raises(AssertionError, match="computed again"):
        reference(ctx, other, settings, cache=path, version="v1")
