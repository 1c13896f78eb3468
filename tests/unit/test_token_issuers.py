"""Several issuers (AME_TOKEN_ISSUERS): the portal's sign-in next to the products' issuer, through the
container's production path (settings → JWKS over HTTP → verifier)."""

import json
import time

import jwt
import pytest

from ame_local.oidc import AME_ISSUER_RULES
from chalicelib.auth import TokenError, parse_trusted_issuers
from chalicelib.bootstrap import Container
from chalicelib.settings import Settings, SettingsError
from tests.unit.test_api_routes import ENV
from tests.unit.test_auth_support import OTHER_ISSUER, TEST_ISSUER, bearer, serving_jwks

PORTAL_ISSUER = "http://127.0.0.1:8000/oidc"
PORTAL_JWKS = "http://127.0.0.1:8000/oidc/jwks"
COGNITO_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Abc"
COGNITO_JWKS = COGNITO_ISSUER + "/.well-known/jwks.json"


def verifier(issuers: dict) -> object:
    return Container(Settings.from_env({**ENV, "AME_TOKEN_ISSUERS": json.dumps(issuers)})).token_verifier


def token(header: dict[str, str]) -> str:
    return header["Authorization"].split(" ", 1)[1]


def test_products_and_portal_tokens_are_both_accepted():
    v = verifier({PORTAL_ISSUER: {"jwks_url": PORTAL_JWKS, **AME_ISSUER_RULES}})
    with serving_jwks() as mock:
        mock.get(PORTAL_JWKS, json=OTHER_ISSUER.jwks())
        product = v.verify(token(bearer("portal-bff")))
        person = v.verify(
            OTHER_ISSUER.mint("portal", ["CREDITO_PJ"], ["ame:orders:read"], iss=PORTAL_ISSUER, username="ana.credito")
        )
    assert product.client_id == "portal-bff"
    assert person.client_id == "portal:ana.credito" and person.areas == {"CREDITO_PJ"}


def test_a_token_signed_by_another_issuers_key_is_refused():
    v = verifier({PORTAL_ISSUER: {"jwks_url": PORTAL_JWKS, "audience": "ame"}})
    with serving_jwks() as mock:
        mock.get(PORTAL_JWKS, json=OTHER_ISSUER.jwks())
        # Claims to be the portal's issuer, signed with the products' key (same kid): the portal's keys decide.
        forged = TEST_ISSUER.mint("portal", ["CREDITO_PJ"], iss=PORTAL_ISSUER)
        with pytest.raises(TokenError) as caught:
            v.verify(forged)
    assert caught.value.code == "INVALID_SIGNATURE"


def test_an_unknown_issuer_is_refused_before_any_key_is_fetched():
    v = verifier({PORTAL_ISSUER: {"jwks_url": PORTAL_JWKS, "audience": "ame"}})
    with serving_jwks() as mock:
        with pytest.raises(TokenError) as caught:
            v.verify(TEST_ISSUER.mint("x", ["CREDITO_PJ"], iss="https://evil.example"))
        assert len(mock.calls) == 0
    assert caught.value.code == "INVALID_ISSUER"


def test_cognito_access_tokens_are_checked_by_client_id_and_map_groups_to_areas():
    v = verifier(
        {
            COGNITO_ISSUER: {
                "jwks_url": COGNITO_JWKS,
                "client_ids": ["portal-app-client"],
                "areas_claim": "cognito:groups",
                "area_group_prefix": "area:",
                "caller_claim": "username",
                "caller_prefix": "portal:",
            }
        }
    )
    now = int(time.time())
    cognito = {
        "iss": COGNITO_ISSUER,
        "client_id": "portal-app-client",
        "token_use": "access",
        "username": "ana.credito",
        "scope": "openid ame:orders:read",
        "iat": now,
        "exp": now + 300,
        "cognito:groups": ["area:CREDITO_PJ", "admins"],
        "sub": "0b1c-uuid",
    }

    def sign(claims: dict) -> str:  # Cognito's access token: no aud, no areas claim
        return jwt.encode(claims, TEST_ISSUER.private_key, algorithm="RS256", headers={"kid": TEST_ISSUER.kid})

    with serving_jwks(url=COGNITO_JWKS):
        caller = v.verify(sign(cognito))
        with pytest.raises(TokenError) as other_client:
            v.verify(sign({**cognito, "client_id": "another-app"}))
        with pytest.raises(TokenError) as id_token:
            v.verify(sign({**cognito, "token_use": "id"}))
    assert caller.client_id == "portal:ana.credito" and caller.areas == {"CREDITO_PJ"}
    assert caller.scopes == {"openid", "ame:orders:read"}
    assert other_client.value.code == "INVALID_AUDIENCE" and id_token.value.code == "INVALID_TOKEN"


@pytest.mark.parametrize(
    "raw, message",
    [
        ("[1]", "JSON object"),
        ("{bad", "not valid JSON"),
        ('{"i": {"audience": "ame"}}', "jwks_url"),
        ('{"i": {"jwks_url": "http://x"}}', "audience or client_ids"),
    ],
)
def test_a_bad_issuers_setting_is_an_error_naming_it(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_trusted_issuers(raw)
    with pytest.raises(SettingsError):
        Container(Settings.from_env({**ENV, "AME_TOKEN_ISSUERS": raw})).token_verifier


def test_the_deployed_cognito_setting_accepts_access_tokens_carrying_the_trigger_audience():
    """What infra/portal_template.token_issuers() gives the functions, with the ${...} filled in."""
    from infra.portal_template import token_issuers

    template = token_issuers()["Fn::If"][1]["Fn::Sub"]
    issuers = json.loads(template.replace("${AWS::Region}", "us-east-1").replace("${PortalUserPool}", "us-east-1_Abc"))
    v = verifier(issuers)
    now = int(time.time())
    claims = {
        "iss": COGNITO_ISSUER,
        "client_id": "any-client-of-the-pool",
        "token_use": "access",
        "username": "bruno",
        "scope": "ame:orders:read",
        "iat": now,
        "exp": now + 300,
        "areas": ["CONSIGNADO"],
        "ame_aud": "ame",
    }

    def sign(c: dict) -> str:
        return jwt.encode(c, TEST_ISSUER.private_key, algorithm="RS256", headers={"kid": TEST_ISSUER.kid})

    with serving_jwks(url=COGNITO_JWKS):
        caller = v.verify(sign(claims))
        with pytest.raises(TokenError) as no_audience:
            v.verify(sign({k: val for k, val in claims.items() if k != "ame_aud"}))
        with pytest.raises(TokenError) as id_token:
            v.verify(sign({**claims, "token_use": "id"}))
    assert caller.client_id == "portal:bruno" and caller.areas == {"CONSIGNADO"}
    assert no_audience.value.code == "INVALID_AUDIENCE" and id_token.value.code == "INVALID_TOKEN"
