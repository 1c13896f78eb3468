"""GET /v1/areas/{area_code}/options: the portal form's reference data (docs/contracts.md §2)."""

import json

import pytest

from chalicelib.adapters.cached_directories import CachedAreaDirectory, CachedDomainDirectory
from chalicelib.auth import SCOPE_READ, SCOPE_SIMULATE, SCOPE_WRITE
from chalicelib.services.area_options import AreaOptions
from tests.fakes import DictCache, StaticAreas, StaticDomains
from tests.unit.test_api_routes import ENV, api_over_fakes
from tests.unit.test_auth_support import bearer
from tests.unit.test_intake_service import AREA, DOMAINS

PATH = "/v1/areas/CREDITO_PJ/options"


@pytest.fixture()
def api():
    with api_over_fakes(ENV) as (client, c):
        c.area_options = AreaOptions(c.areas, c.domains)
        yield client, c


def test_options_list_the_areas_choices_with_names_and_only_active_domain_values(api):
    client, _ = api
    response = client.http.get(PATH, headers=bearer(scopes=[SCOPE_READ]))
    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert body["area_code"] == "CREDITO_PJ"
    assert body["platforms"] == [{"code": "BANKLINE", "name": "Bankline"}]
    assert body["signature_methods"][0]["code"] == "DIGITAL" and body["signature_methods"][0]["name"]
    assert body["limits"] == {
        "max_amount": "5000000.00",
        "max_guarantors": AREA.limits.max_guarantors,
        "max_documents": AREA.limits.max_documents,
    }
    assert body["products"] == [{"code": "CCB_GIRO", "name": "CCB Giro"}]  # OLD_PRODUCT is inactive
    active_types = [v.key for v in DOMAINS["document_types"].values if v.active]
    assert [d["code"] for d in body["document_types"]] == active_types
    assert response.headers["Cache-Control"].startswith("private")


def test_write_scope_alone_is_enough_and_simulate_alone_is_403(api):
    client, _ = api
    assert client.http.get(PATH, headers=bearer(scopes=[SCOPE_WRITE])).status_code == 200
    refused = client.http.get(PATH, headers=bearer(scopes=[SCOPE_SIMULATE]))
    assert refused.status_code == 403
    assert json.loads(refused.body)["code"] == "INSUFFICIENT_SCOPE"


@pytest.mark.parametrize("area_code", ["CAMBIO_PF", "NAO_EXISTE"])
def test_another_area_or_an_unknown_one_is_a_404_problem(api, area_code):
    client, c = api
    calls = c.areas.calls
    response = client.http.get(f"/v1/areas/{area_code}/options", headers=bearer(areas=["CREDITO_PJ", "NAO_EXISTE"]))
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert json.loads(response.body)["code"] == "AREA_NOT_FOUND"
    if area_code == "CAMBIO_PF":
        assert c.areas.calls == calls  # refused before asking Parametrizador anything


def test_inactive_area_is_404(api):
    client, c = api
    c.areas.areas["CREDITO_PJ"] = AREA.model_copy(update={"active": False})
    assert client.http.get(PATH, headers=bearer()).status_code == 404


def test_partner_down_is_503_with_retry_after(api):
    client, c = api
    c.areas.fail = True
    response = client.http.get(PATH, headers=bearer())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert json.loads(response.body)["code"] == "DEPENDENCY_UNAVAILABLE"


def test_no_token_is_401():
    with api_over_fakes(ENV) as (client, _):
        response = client.http.get(PATH)
    assert response.status_code == 401


def test_look_ups_are_cached_like_intakes():
    areas, domains, cache = StaticAreas({"CREDITO_PJ": AREA}), StaticDomains(DOMAINS), DictCache()
    options = AreaOptions(CachedAreaDirectory(areas, cache, 300), CachedDomainDirectory(domains, cache, 300))
    first = options.for_area("CREDITO_PJ")
    area_calls, domain_calls = areas.calls, domains.calls
    assert (area_calls, domain_calls) == (1, 2)
    assert options.for_area("CREDITO_PJ") == first
    assert (areas.calls, domains.calls) == (area_calls, domain_calls)  # the second call asked no partner
