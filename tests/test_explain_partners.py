"""Which known partner an explanation names ("X resembles Y, a partner of Z")."""

from __future__ import annotations

from matcher.explain import Explainer
from tests.ranker_fixtures import ctx_fixture, orgs_fixture, vectors_fixture  # noqa: F401


def vector(ctx, org_id):
    side, row = ctx.position(org_id)
    return ctx.side_arrays(side).vectors[row]


def test_the_closest_known_partner_sharing_a_sector_is_named(ctx):
    explainer = Explainer(ctx, None)
    name = {o.id: o.name for o in ctx.eu_orgs + ctx.mx_orgs}
    school = ctx.org(*ctx.position("mx-aero-school"))
    # eu-aero's partners are mx-aero and mx-aero-school; the school itself is left out.
    assert explainer._closest_partner("eu-aero", vector(ctx, "mx-aero-school"), exclude="mx-aero-school",
                                      sectors=school.sectors) == name["mx-aero"]
    aero = ctx.org(*ctx.position("eu-aero"))
    assert explainer._closest_partner("mx-aero-school", vector(ctx, "eu-aero"), exclude="eu-aero",
                                      sectors=aero.sectors) == name["eu-mro"]


def test_no_partner_is_named_without_a_shared_sector_or_without_partners(ctx):
    explainer = Explainer(ctx, None)
    soft = ctx.org(*ctx.position("eu-soft"))
    assert explainer._closest_partner("mx-energy", vector(ctx, "eu-soft"), exclude="eu-soft",
                                      sectors=soft.sectors) is None
    assert explainer._closest_partner("mx-food", vector(ctx, "eu-wind"), exclude="eu-wind") is None
    assert explainer._closest_partner("mx-energy", vector(ctx, "eu-soft"), exclude="eu-soft") == \
        ctx.org(*ctx.position("eu-wind")).name
