"""The local OIDC provider (ame_local/oidc.py): PKCE, single-use codes, refresh rotation, expiry."""

import base64
import hashlib
import json
import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest

from ame_local.oidc import AME_ISSUER_RULES, Client, OidcProvider, PortalUser, hash_password, load_users
from chalicelib.auth import JwksCache, TokenVerifier, TrustedIssuer
from tests.unit.test_auth_support import TEST_ISSUER

ORIGIN = "http://127.0.0.1:8000"
REDIRECT = ORIGIN + "/portal/callback"
FORM = {"content-type": "application/x-www-form-urlencoded"}
USER = PortalUser(
    "ana.credito",
    "Ana Credito",
    ("CREDITO_PJ",),
    ("ame:orders:write", "ame:orders:read"),
    hash_password("senha-local", iterations=1000),
)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock():
    return Clock()


@pytest.fixture()
def provider(clock):
    client = Client("portal", frozenset({REDIRECT}), frozenset({ORIGIN + "/portal/"}))
    return OidcProvider(
        ORIGIN + "/oidc",
        TEST_ISSUER,
        [client],
        {USER.username: USER},
        access_ttl=60,
        refresh_ttl=600,
        code_ttl=30,
        clock=clock,
    )


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(challenge: str, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": "portal",
        "redirect_uri": REDIRECT,
        "state": "s1",
        "scope": "openid profile ame:orders:write ame:orders:read ame:quorum:simulate",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "nonce": "n1",
        **extra,
    }


def sign_in(provider, challenge: str, password: str = "senha-local", **extra: str):
    form = {**authorize_params(challenge, **extra), "username": "ana.credito", "password": password}
    return provider.handle("POST", "/oidc/authorize", "", FORM, urlencode(form).encode())


def code_of(answer) -> str:
    status, headers, _ = answer
    assert status == 302, answer
    query = parse_qs(urlsplit(headers["Location"]).query)
    assert query["state"] == ["s1"] and query["iss"] == [ORIGIN + "/oidc"]
    return query["code"][0]


def token(provider, **form: str):
    status, _, body = provider.handle(
        "POST", "/oidc/token", "", FORM, urlencode({"client_id": "portal", **form}).encode()
    )
    return status, json.loads(body)


def exchange(provider, code: str, verifier: str, redirect_uri: str = REDIRECT):
    return token(
        provider, grant_type="authorization_code", code=code, code_verifier=verifier, redirect_uri=redirect_uri
    )


def test_discovery_names_the_endpoints_and_s256_only(provider):
    status, _, body = provider.handle("GET", "/oidc/.well-known/openid-configuration", "", {}, b"")
    doc = json.loads(body)
    assert status == 200 and doc["issuer"] == ORIGIN + "/oidc"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["end_session_endpoint"] == ORIGIN + "/oidc/logout"
    assert json.loads(provider.handle("GET", "/oidc/jwks", "", {}, b"")[2]) == TEST_ISSUER.jwks()


def test_sign_in_page_is_portuguese_with_labelled_fields_and_no_script(provider):
    _, challenge = pkce()
    status, headers, body = provider.handle("GET", "/oidc/authorize", urlencode(authorize_params(challenge)), {}, b"")
    page = body.decode()
    assert status == 200 and '<html lang="pt-BR">' in page
    assert '<label for="username">Usuário</label>' in page and '<label for="password">Senha</label>' in page
    assert ">Entrar</button>" in page and "<script" not in page
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_code_flow_gives_tokens_ame_accepts_through_its_normal_verifier(provider):
    verifier, challenge = pkce()
    status, answer = exchange(provider, code_of(sign_in(provider, challenge)), verifier)
    assert status == 200 and answer["token_type"] == "Bearer" and answer["expires_in"] == 60
    ame = TokenVerifier(
        None,
        None,
        None,
        0,
        trusted=[TrustedIssuer.from_config(ORIGIN + "/oidc", AME_ISSUER_RULES, JwksCache(lambda: TEST_ISSUER.jwks()))],
    )
    caller = ame.verify(answer["access_token"])
    assert caller.client_id == "portal:ana.credito" and caller.areas == {"CREDITO_PJ"}
    assert caller.scopes == {"ame:orders:write", "ame:orders:read"}  # simulate asked for, not the user's
    claims = jwt.decode(
        answer["id_token"], TEST_ISSUER.private_key.public_key(), algorithms=["RS256"], audience="portal"
    )
    assert claims["name"] == "Ana Credito" and claims["nonce"] == "n1"


def test_wrong_password_shows_the_form_again_with_an_alert(provider):
    _, challenge = pkce()
    status, headers, body = sign_in(provider, challenge, password="errada")
    assert status == 401 and "Location" not in headers
    assert 'role="alert"' in body.decode() and "Usuário ou senha inválidos" in body.decode()


def test_wrong_verifier_is_refused_and_burns_the_code(provider):
    verifier, challenge = pkce()
    code = code_of(sign_in(provider, challenge))
    status, answer = exchange(provider, code, pkce()[0])
    assert status == 400 and answer["error"] == "invalid_grant"
    assert exchange(provider, code, verifier)[0] == 400  # single use, even after a failed attempt


def test_a_code_is_single_use_and_its_reuse_revokes_what_it_bought(provider):
    verifier, challenge = pkce()
    code = code_of(sign_in(provider, challenge))
    status, first = exchange(provider, code, verifier)
    assert status == 200
    assert exchange(provider, code, verifier)[1]["error"] == "invalid_grant"
    assert token(provider, grant_type="refresh_token", refresh_token=first["refresh_token"])[0] == 400


def test_code_expires(provider, clock):
    verifier, challenge = pkce()
    code = code_of(sign_in(provider, challenge))
    clock.now += 31
    assert exchange(provider, code, verifier)[1]["error"] == "invalid_grant"


def test_redirect_uri_must_match_exactly(provider):
    verifier, challenge = pkce()
    status, headers, body = provider.handle(
        "GET", "/oidc/authorize", urlencode(authorize_params(challenge, redirect_uri=REDIRECT + "/")), {}, b""
    )
    assert status == 400 and "Location" not in headers  # never redirected to an unregistered address
    code = code_of(sign_in(provider, challenge))
    assert exchange(provider, code, verifier, redirect_uri=ORIGIN + "/portal/other")[0] == 400


@pytest.mark.parametrize(
    "change", [{"code_challenge_method": "plain"}, {"code_challenge": ""}, {"response_type": "token"}]
)
def test_only_code_with_s256_pkce_is_accepted(provider, change):
    _, challenge = pkce()
    status, headers, _ = provider.handle(
        "GET", "/oidc/authorize", urlencode(authorize_params(challenge, **change)), {}, b""
    )
    assert status == 302 and "error=" in headers["Location"] and "code=" not in headers["Location"]


def test_refresh_rotates_and_an_old_refresh_token_ends_the_session(provider):
    verifier, challenge = pkce()
    _, first = exchange(provider, code_of(sign_in(provider, challenge)), verifier)
    status, second = token(provider, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert status == 200 and second["refresh_token"] != first["refresh_token"] and second["access_token"]
    # The rotated-out token comes back: refused, and the newest one dies with it.
    assert token(provider, grant_type="refresh_token", refresh_token=first["refresh_token"])[0] == 400
    assert token(provider, grant_type="refresh_token", refresh_token=second["refresh_token"])[0] == 400


def test_refresh_after_the_session_lifetime_is_invalid_grant(provider, clock):
    verifier, challenge = pkce()
    _, first = exchange(provider, code_of(sign_in(provider, challenge)), verifier)
    clock.now += 300
    _, second = token(provider, grant_type="refresh_token", refresh_token=first["refresh_token"])
    clock.now += 301  # 601 s after sign-in: rotation did not extend the 600 s session
    status, answer = token(provider, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert status == 400 and answer["error"] == "invalid_grant"


def test_access_token_expires_after_its_ttl(provider, clock):
    verifier, challenge = pkce()
    _, answer = exchange(provider, code_of(sign_in(provider, challenge)), verifier)
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60


def test_userinfo_and_logout(provider):
    verifier, challenge = pkce()
    _, answer = exchange(provider, code_of(sign_in(provider, challenge)), verifier)
    status, _, body = provider.handle(
        "GET", "/oidc/userinfo", "", {"authorization": "Bearer " + answer["access_token"]}, b""
    )
    assert status == 200 and json.loads(body)["name"] == "Ana Credito"
    assert provider.handle("GET", "/oidc/userinfo", "", {"authorization": "Bearer x"}, b"")[0] == 401
    status, headers, _ = provider.handle(
        "GET", "/oidc/logout", urlencode({"post_logout_redirect_uri": ORIGIN + "/portal/", "state": "z"}), {}, b""
    )
    assert status == 302 and headers["Location"] == ORIGIN + "/portal/?state=z"
    status, headers, _ = provider.handle(
        "GET", "/oidc/logout", urlencode({"post_logout_redirect_uri": "https://evil.example/"}), {}, b""
    )
    assert status == 200 and "Location" not in headers


def test_seeded_users_sign_in_with_the_documented_password():
    users = load_users()
    assert set(users) == {"ana.credito", "bruno.consignado", "carla.leitura"}
    assert users["carla.leitura"].scopes == ("ame:orders:read",)
    from ame_local.oidc import check_password

    assert check_password("senha-local", users["bruno.consignado"].password_hash)
    assert not check_password("outra", users["bruno.consignado"].password_hash)
