"""Identity and tenancy: RS256 tokens against a JWKS, 401/403 problem documents, areas, request ids, CORS."""

import json
import time

import pytest

from ame_local.issuer import AUDIENCE, ISSUER, LocalIssuer
from chalicelib.auth import VERIFIED_REUSE_SECONDS, JwksCache, TokenError, TokenVerifier
from tests.unit.test_api_routes import ENV, api_over_fakes
from tests.unit.test_auth_support import OTHER_ISSUER, TEST_ISSUER, bearer
from tests.unit.test_order_request import valid_body

PORTAL = "https://portal.example"


def verifier(issuer=TEST_ISSUER, leeway=30.0):
    return TokenVerifier(JwksCache(lambda: issuer.jwks()), ISSUER, AUDIENCE, leeway)


def code_of(token, v=None):
    with pytest.raises(TokenError) as raised:
        (v or verifier()).verify(token)
    return raised.value.code


# -- the verifier -----------------------------------------------------------------------------------


def test_valid_token_gives_the_caller_its_scopes_and_areas():
    caller = verifier().verify(TEST_ISSUER.mint("bff", ["CREDITO_PJ", "CONSIGNADO"], ["ame:orders:read"]))
    assert caller.client_id == "bff"
    assert caller.areas == {"CREDITO_PJ", "CONSIGNADO"} and caller.scopes == {"ame:orders:read"}


def test_expired_token_is_refused_beyond_the_leeway_but_not_within_it():
    an_hour_ago = time.time() - 3600
    assert code_of(TEST_ISSUER.mint("bff", [], ttl_seconds=60, now=an_hour_ago)) == "TOKEN_EXPIRED"
    just_expired = TEST_ISSUER.mint("bff", [], ttl_seconds=60, now=time.time() - 70)
    assert verifier(leeway=30).verify(just_expired).client_id == "bff"


def test_token_not_yet_valid_is_refused():
    assert code_of(TEST_ISSUER.mint("bff", [], now=time.time() + 600)) == "TOKEN_NOT_YET_VALID"


def test_token_signed_by_another_key_with_the_same_kid_is_refused():
    assert code_of(OTHER_ISSUER.mint("bff", ["CREDITO_PJ"])) == "INVALID_SIGNATURE"


def test_wrong_issuer_and_wrong_audience_are_refused():
    assert code_of(TEST_ISSUER.mint("bff", [], iss="someone-else")) == "INVALID_ISSUER"
    assert code_of(TEST_ISSUER.mint("bff", [], aud="another-api")) == "INVALID_AUDIENCE"


def test_hs256_and_unsigned_tokens_are_refused_whatever_their_header_says():
    import jwt

    claims = {"iss": ISSUER, "aud": AUDIENCE, "client_id": "bff", "exp": int(time.time()) + 60}
    assert code_of(jwt.encode(claims, "secret-secret-secret-secret-32b!", algorithm="HS256")) == "UNSUPPORTED_ALGORITHM"
    assert code_of(jwt.encode(claims, None, algorithm="none")) == "UNSUPPORTED_ALGORITHM"


def test_token_without_client_id_or_exp_is_refused():
    assert code_of(TEST_ISSUER.mint("bff", [], client_id=None)) == "MISSING_CLAIM"
    assert code_of(TEST_ISSUER.mint("bff", [], exp=None)) == "MISSING_CLAIM"


# -- token hygiene: exact claim types, one spelling per caller --------------------------------------------

IN_AN_HOUR = int(time.time()) + 3600


def signed(changes: dict) -> str:
    """A well-typed token of the test issuer with `changes` applied (the claims named as they are sent)."""
    import jwt

    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "client_id": "portal-bff", "sub": "portal-bff", "iat": now}
    claims.update({"nbf": now, "exp": IN_AN_HOUR, "scope": "ame:orders:read", "areas": ["CREDITO_PJ"], **changes})
    return jwt.encode(claims, TEST_ISSUER.private_key, algorithm="RS256", headers={"kid": TEST_ISSUER.kid})


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": str(IN_AN_HOUR)},  # a numeric string PyJWT would take as a date
        {"exp": float(IN_AN_HOUR) + 0.5},
        {"iat": str(IN_AN_HOUR - 3600)},
        {"nbf": False},  # a boolean PyJWT would take as 0
        {"nbf": True},
        {"iat": [1]},
        {"scope": ["ame:orders:read"]},
        {"scope": {"ame:orders:read": True}},
        {"areas": "CREDITO_PJ"},
        {"areas": "CREDITO_PJ,CONSIGNADO"},
        {"areas": [["CREDITO_PJ"]]},
        {"areas": ["../CREDITO_PJ"]},
        {"areas": ["CREDITO PJ"]},
        {"sub": 42},
        {"sub": ""},
    ],
    # Ids without the clock's value: every xdist worker collects the same names.
    ids=lambda claims: repr(claims).replace(str(IN_AN_HOUR - 3600), "NOW").replace(str(IN_AN_HOUR), "IN_AN_HOUR"),
)
def test_a_claim_of_another_type_than_documented_is_refused(claims):
    assert code_of(signed(claims)) == "INVALID_CLAIM"
    assert verifier().verify(signed({})).client_id == "portal-bff"  # the same token, well typed, passes


@pytest.mark.parametrize(
    "client_id",
    [
        "portal-bff ",  # trailing space: would be another caller with its own idempotency keys
        " portal-bff",
        "portal-bff\n",
        "Portal-BFF",
        "portal-bf\u0066\u200b",  # zero-width space
        "\u0440ortal-bff",  # Cyrillic er, looks like a Latin p
        "portal_bff",
        "portal.bff",
        "portal:bff",
        "-portal",
        "pb",
        "p" * 65,
        42,
        ["portal-bff"],
    ],
    ids=repr,
)
def test_a_client_id_outside_the_strict_pattern_is_refused(client_id):
    assert code_of(signed({"client_id": client_id})) == "INVALID_CLAIM"


@pytest.mark.parametrize(
    "client_id", ["bff", "portal-bff", "produto-ccb", "chaos-product", "6vltq3e2ro4mv2ivtab5o7vctd"]
)
def test_client_ids_in_use_match_the_pattern(client_id):
    assert verifier().verify(TEST_ISSUER.mint(client_id, [])).client_id == client_id


def test_the_subject_travels_with_the_caller_through_the_authorizer_context():
    from chalicelib.auth import Caller

    caller = verifier().verify(TEST_ISSUER.mint("portal-bff", ["CREDITO_PJ"], sub="svc-portal-bff"))
    assert caller.subject == "svc-portal-bff"
    assert Caller.from_context(caller.to_context()) == caller


def test_garbage_is_a_malformed_token():
    assert code_of("not.a.jwt") == "MALFORMED_TOKEN"


def test_unconfigured_verifier_refuses_everything():
    with pytest.raises(TokenError) as raised:
        TokenVerifier(None, None, AUDIENCE).verify(TEST_ISSUER.mint("bff", []))
    assert raised.value.code == "AUTH_NOT_CONFIGURED"


def test_jwks_is_fetched_once_and_an_unknown_kid_refetches_at_most_once_per_interval():
    fetches = []
    now = [1000.0]

    def fetch():
        fetches.append(now[0])
        return TEST_ISSUER.jwks()

    cache = JwksCache(fetch, ttl_seconds=300, min_refetch_seconds=30, clock=lambda: now[0])
    v = TokenVerifier(cache, ISSUER, AUDIENCE)
    for _ in range(5):
        v.verify(TEST_ISSUER.mint("bff", []))
    assert len(fetches) == 1
    stranger = LocalIssuer.generate(kid="rotated-key")
    for _ in range(3):
        assert code_of(stranger.mint("bff", []), v) == "UNKNOWN_KEY"
    assert len(fetches) == 1  # within min_refetch_seconds: no flood of JWKS requests
    now[0] += 31
    assert code_of(stranger.mint("bff", []), v) == "UNKNOWN_KEY"
    assert len(fetches) == 2


def test_issuer_down_keeps_the_keys_it_already_has():
    calls = {"n": 0}
    now = [0.0]

    def fetch():
        calls["n"] += 1
        if calls["n"] > 1:
            raise ConnectionError("issuer down")
        return TEST_ISSUER.jwks()

    v = TokenVerifier(JwksCache(fetch, ttl_seconds=10, clock=lambda: now[0]), ISSUER, AUDIENCE)
    v.verify(TEST_ISSUER.mint("bff", []))
    now[0] += 60
    assert v.verify(TEST_ISSUER.mint("bff", [])).client_id == "bff"
    assert calls["n"] == 2


def counting_decodes(monkeypatch):
    """How many times PyJWT decoded a token, from now on."""
    import jwt

    decodes = []
    original = jwt.decode

    def decode(*args, **kwargs):
        decodes.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", decode)
    return decodes


def test_a_verified_token_is_reused_without_decoding_it_again(monkeypatch):
    decodes = counting_decodes(monkeypatch)
    now = [time.time()]
    v = TokenVerifier(JwksCache(TEST_ISSUER.jwks), ISSUER, AUDIENCE, clock=lambda: now[0])
    token = TEST_ISSUER.mint("bff", ["CREDITO_PJ"], ["ame:orders:read"])
    first = v.verify(token)
    decoded_once = len(decodes)
    assert decoded_once > 0
    for _ in range(5):
        assert v.verify(token) == first
    assert len(decodes) == decoded_once
    now[0] += VERIFIED_REUSE_SECONDS + 1  # kept no longer than that: checked in full again
    assert v.verify(token) == first
    assert len(decodes) == 2 * decoded_once


def test_a_reused_token_is_checked_in_full_again_once_a_full_check_would_refuse_it(monkeypatch):
    decodes = counting_decodes(monkeypatch)
    now = [time.time()]
    v = TokenVerifier(JwksCache(TEST_ISSUER.jwks), ISSUER, AUDIENCE, leeway_seconds=30, clock=lambda: now[0])
    token = TEST_ISSUER.mint("bff", [], ttl_seconds=60, now=now[0] - 50)  # expires in 10 s, leeway 30 s
    v.verify(token)
    decoded_once = len(decodes)
    now[0] += 39
    v.verify(token)
    assert len(decodes) == decoded_once  # within exp + leeway: reused
    now[0] += 2
    v.verify(token)  # PyJWT reads the real clock, by which the token is still within its leeway
    assert len(decodes) == 2 * decoded_once


def test_refusals_are_not_remembered_and_the_kept_tokens_are_bounded(monkeypatch):
    import chalicelib.auth as auth

    monkeypatch.setattr(auth, "VERIFIED_REUSE_MAX_TOKENS", 3)
    v = verifier()
    stranger = OTHER_ISSUER.mint("bff", ["CREDITO_PJ"])
    assert code_of(stranger, v) == code_of(stranger, v) == "INVALID_SIGNATURE"
    tokens = [TEST_ISSUER.mint(f"bff-{i}", []) for i in range(5)]
    for token in tokens:
        v.verify(token)
    assert list(v._verified) == tokens[-3:]  # the oldest went first


# -- through the API ---------------------------------------------------------------------------------


@pytest.fixture()
def api():
    with api_over_fakes({**ENV, "AME_CORS_ORIGINS": PORTAL + ", https://other-portal.example"}) as served:
        yield served


def create(client, headers, body=None):
    return client.http.post(
        "/v1/orders", body=json.dumps(body or valid_body()), headers={"Content-Type": "application/json", **headers}
    )


def problem(response):
    assert response.headers["Content-Type"] == "application/problem+json"
    return json.loads(response.body)


def test_no_token_is_401(api):
    client, c = api
    assert create(client, {}).status_code == 401
    assert client.http.get("/v1/orders").status_code == 401
    assert c.repository.orders == {}


@pytest.mark.parametrize(
    "headers, code",
    [
        (
            {"Authorization": "Bearer " + TEST_ISSUER.mint("bff", ["CREDITO_PJ"], now=time.time() - 7200)},
            "TOKEN_EXPIRED",
        ),
        (bearer(issuer=OTHER_ISSUER), "INVALID_SIGNATURE"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "INVALID_AUTHORIZATION_HEADER"),
        ({"Authorization": "Bearer abc"}, "MALFORMED_TOKEN"),
    ],
)
def test_bad_token_is_a_401_problem_naming_the_authorization_header(api, headers, code):
    client, c = api
    response = create(client, headers)
    assert response.status_code == 401
    body = problem(response)
    assert body["code"] == code and body["errors"][0]["field"] == "Authorization"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert c.repository.orders == {}


def test_missing_scope_is_a_403_problem(api):
    client, c = api
    response = create(client, bearer(scopes=["ame:orders:read"]))
    assert response.status_code == 403 and problem(response)["code"] == "INSUFFICIENT_SCOPE"
    assert c.repository.orders == {}
    assert (
        client.http.get(
            "/v1/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=bearer(scopes=["ame:orders:write"])
        ).status_code
        == 403
    )


def test_creating_for_an_area_the_caller_does_not_serve_is_403_before_the_area_is_looked_up(api):
    client, c = api
    response = create(client, bearer(areas=["CONSIGNADO"]))
    assert response.status_code == 403
    body = problem(response)
    assert body["code"] == "AREA_NOT_ALLOWED" and body["errors"][0]["field"] == "area_code"
    assert c.repository.orders == {} and c.areas.calls == 0


def test_the_order_records_the_client_id_that_created_it(api):
    client, c = api
    response = create(client, bearer(client="produto-ccb"))
    assert response.status_code == 202
    assert json.loads(response.body)["created_by"] == "produto-ccb"
    assert [o.created_by for o in c.repository.orders.values()] == ["produto-ccb"]


def test_a_caller_of_another_area_sees_404_exactly_like_a_missing_order(api):
    client, _ = api
    key = json.loads(create(client, bearer(client="produto-a")).body)["order_key"]
    other = bearer(client="produto-b", areas=["CONSIGNADO"])
    theirs = client.http.get(f"/v1/orders/{key}", headers=other)
    missing = client.http.get("/v1/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=other)
    assert theirs.status_code == missing.status_code == 404
    assert problem(theirs) == problem(missing)
    assert client.http.get(f"/v1/orders/{key}/history", headers=other).status_code == 404
    same_area = bearer(client="produto-c", areas=["CREDITO_PJ"])
    assert client.http.get(f"/v1/orders/{key}", headers=same_area).status_code == 200


def test_history_lists_each_status_with_its_time(api):
    client, _ = api
    key = json.loads(create(client, bearer()).body)["order_key"]
    response = client.http.get(f"/v1/orders/{key}/history", headers=bearer())
    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["history"] == [{"status": "RECEIVED", "detail": None, "at": "2026-11-29T10:00:00Z"}]


def test_request_id_is_echoed_when_given_and_generated_when_not(api):
    client, _ = api
    given = client.http.get("/health", headers={"X-Request-Id": "req-123"})
    assert given.headers["X-Request-Id"] == "req-123"
    made = client.http.get("/health")
    assert len(made.headers["X-Request-Id"]) == 32
    bad = client.http.get("/health", headers={"X-Request-Id": "spaces are not ok"})
    assert bad.headers["X-Request-Id"] != "spaces are not ok"
    failed = create(client, {"Authorization": "Bearer x", "X-Request-Id": "req-456"})
    assert failed.status_code == 401 and failed.headers["X-Request-Id"] == "req-456"


def test_cors_headers_only_for_configured_portal_origins(api):
    client, _ = api
    allowed = client.http.get("/v1/orders", headers={**bearer(), "Origin": PORTAL})
    assert allowed.headers["Access-Control-Allow-Origin"] == PORTAL
    assert "X-Request-Id" in allowed.headers["Access-Control-Expose-Headers"]
    other = client.http.get("/v1/orders", headers={**bearer(), "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_preflight_answers_the_portal_without_a_token_and_refuses_other_origins(api):
    client, _ = api
    ok = client.http.options("/v1/orders", headers={"Origin": PORTAL, "Access-Control-Request-Method": "POST"})
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == PORTAL
    assert "Authorization" in ok.headers["Access-Control-Allow-Headers"]
    refused = client.http.options("/v1/orders", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers


def test_search_for_an_area_the_caller_does_not_serve_is_403(api):
    client, _ = api
    response = client.http.get("/v1/orders?area_code=CONSIGNADO", headers=bearer())
    assert response.status_code == 403 and problem(response)["errors"][0]["field"] == "area_code"


def test_make_token_refuses_a_client_id_ame_would_refuse(capsys):
    from ame_local.issuer import main

    with pytest.raises(SystemExit) as exited:
        main(["token", "--client", "Portal-BFF ", "--areas", "CREDITO_PJ"])
    assert exited.value.code == 2 and "--client" in capsys.readouterr().err
