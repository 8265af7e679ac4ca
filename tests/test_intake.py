"""matcher.intake: the one builder of profiles from loose input (CLI text, API fields, event rows)."""

from __future__ import annotations

import pytest

from matcher.errors import InvalidProfile, UnknownSector
from matcher.intake import new_organisation, parse_org_type, parse_side, resolve_sectors
from matcher.profiles import OrgType, Side
from matcher.taxonomy import load_taxonomy


def test_sides_by_code_or_name():
    assert [parse_side(v) for v in ["EU", "mx", " Europe ", "México", Side.MX]] == [Side.EU, Side.MX, Side.EU, Side.MX,
                                                                                     Side.MX]
    with pytest.raises(InvalidProfile) as err:
        parse_side("Atlantis")
    assert err.value.field == "side" and err.value.reason == "'Atlantis' is not EU or MX"


def test_types_by_value_name_or_start():
    assert parse_org_type("company") is OrgType.COMPANY
    assert parse_org_type("Public agency") is OrgType.PUBLIC_AGENCY
    assert parse_org_type("cluster") is OrgType.CLUSTER
    for bad in ["startup", ""]:
        with pytest.raises(InvalidProfile) as err:
            parse_org_type(bad)
        assert err.value.field == "type"


def test_sectors_resolve_once_each_and_name_the_bad_one():
    taxonomy = load_taxonomy()
    assert resolve_sectors(["wind", "Energía eólica", "solar"], taxonomy) == ["wind", "solar"]
    with pytest.raises(UnknownSector) as err:
        resolve_sectors(["wind", "warp drives"], taxonomy)
    assert err.value.field == "sectors.1"
    with pytest.raises(UnknownSector) as err:
        resolve_sectors(["warp drives"], taxonomy, field="sector", indexed=False)
    assert err.value.field == "sector"


def test_new_organisation_defaults_and_field_errors():
    org = new_organisation(id="x", name="Solar Sur", side="MX", sectors=["solar"])
    assert (org.country, org.type, org.acronym) == ("MX", OrgType.CLUSTER, None)
    assert new_organisation(id="y", name="Vent", side=Side.EU, sectors=["wind"], country="DE").country == "DE"
    with pytest.raises(InvalidProfile) as err:
        new_organisation(id="z", name="Vent", side="EU", sectors=["wind"], country="MX")
    assert err.value.field is None and "country" in err.value.reason  # a rule across fields
