"""The API's cache of rendered suggestion bodies (api.present.RenderedSuggestions)."""

from __future__ import annotations

import json

from api.present import RenderedSuggestions
from matcher.profiles import Side
from matcher.ranking import QueryInfo, SuggestionList


def result(name: str, version: str = "v1", note: str = "") -> SuggestionList:
    return SuggestionList(query=QueryInfo(id=name, name=name, side=Side.EU), items=[], note=note or None,
                          data_version=version)


class Counter:
    def __init__(self):
        self.calls = 0

    def __call__(self, made: SuggestionList):
        def compute() -> SuggestionList:
            self.calls += 1
            return made
        return compute


def test_a_repeated_key_is_rendered_once_and_a_new_version_renders_again():
    cache, count = RenderedSuggestions(), Counter()
    version = "v1"
    first = cache.get_or_render("a", lambda: version, count(result("a")))
    assert json.loads(first)["query"]["id"] == "a"
    assert cache.get_or_render("a", lambda: version, count(result("a"))) == first
    assert count.calls == 1
    version = "v2"
    cache.get_or_render("a", lambda: version, count(result("a", "v2")))
    assert count.calls == 2 and len(cache) == 1


def test_a_body_made_while_the_version_moved_is_not_kept():
    cache, count = RenderedSuggestions(), Counter()
    versions = iter(["v1", "v2", "v2", "v2"])
    cache.get_or_render("a", lambda: next(versions), count(result("a")))  # a write during the computation
    assert len(cache) == 0
    cache.get_or_render("a", lambda: next(versions), count(result("a", "v2")))
    assert len(cache) == 1 and count.calls == 2


def test_entries_and_bytes_are_bounded_least_recently_used_first():
    body_size = len(RenderedSuggestions().get_or_render("x", lambda: "v", Counter()(result("x", note="n" * 1000))))
    cache = RenderedSuggestions(size=100, max_bytes=3 * body_size)
    for key in "abcd":
        cache.get_or_render(key, lambda: "v", Counter()(result(key, note="n" * 1000)))
    assert len(cache) == 3 and cache.bytes <= 3 * body_size
    count = Counter()
    cache.get_or_render("a", lambda: "v", count(result("a", note="n" * 1000)))  # "a" went out first
    assert count.calls == 1
    small = RenderedSuggestions(size=2)
    for key in "abc":
        small.get_or_render(key, lambda: "v", Counter()(result(key)))
    assert len(small) == 2


def test_a_body_larger_than_the_budget_is_served_but_not_kept():
    cache = RenderedSuggestions(max_bytes=100)
    body = cache.get_or_render("big", lambda: "v", Counter()(result("big", note="n" * 500)))
    assert len(body) > 100 and len(cache) == 0 and cache.bytes == 0


def test_clear_empties_entries_and_bytes():
    cache = RenderedSuggestions()
    cache.get_or_render("a", lambda: "v", Counter()(result("a")))
    assert cache.bytes > 0
    cache.clear()
    assert len(cache) == 0 and cache.bytes == 0


def test_a_rendered_list_is_the_public_schema_of_every_field():
    from api.present import render
    from api.schemas import SuggestionsPublic
    from matcher.explain import Explanation, FeatureReason, Precedent
    from matcher.profiles import CooperationType, OrgType
    from matcher.ranking import Suggestion

    explanation = Explanation(
        shared_sectors=["Wind energy"], complementary_sectors=["Solar energy"],
        top_features=[FeatureReason(feature="sector_jaccard", text="both work in wind energy", contribution=0.8123)],
        precedent=Precedent(cooperation_id="c1", eu="eu-a", eu_name="EU A", mx="mx-b", mx_name="MX B",
                            type=CooperationType.SIGNED_MOU, year=2018, similarity=0.71, text="like EU A and MX B"),
        already_cooperating=True, summary="already cooperating; shared: Wind energy")
    items = [Suggestion(rank=1, id="mx-b", name="MX B", side=Side.MX, country="MX", type=OrgType.CLUSTER,
                        sectors=["wind"], score=0.9, probability=None, explanation=explanation)]
    made = SuggestionList(query=QueryInfo(id="eu-a", name="EU A", side=Side.EU, sectors=["wind"]), items=items,
                          note="a note", filters={"k": 3, "sector": ["energy"]}, data_version="v7")
    body = render(made)
    assert body == SuggestionsPublic.model_validate(made.model_dump()).model_dump_json().encode()
    assert json.loads(body)["items"][0]["explanation"]["precedent"]["year"] == 2018


def test_a_cached_body_is_served_only_when_confirm_accepts_the_organisations_it_names():
    cache, count = RenderedSuggestions(), Counter()
    asked: list[tuple[str, tuple[str, ...]]] = []
    registered = {"a"}

    def confirm(version: str, ids: tuple[str, ...]) -> bool:
        asked.append((version, ids))
        return set(ids) <= registered

    cache.get_or_render("a", lambda: "v1", count(result("a")), confirm=confirm)
    assert count.calls == 1 and asked == []  # a fresh computation needs no confirmation
    cache.get_or_render("a", lambda: "v1", count(result("a")), confirm=confirm)
    assert count.calls == 1 and asked == [("v1", ("a",))]
    registered.clear()  # deleted since the version was built: computed again, not served from the cache
    cache.get_or_render("a", lambda: "v1", count(result("a")), confirm=confirm)
    assert count.calls == 2
