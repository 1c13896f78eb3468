"""`make deploy`'s portal step (infra/portal_deploy.py) and the template's portal pieces, offline."""

import json

import pytest

from infra import portal_deploy
from infra.portal_template import CONDITION, PRE_TOKEN_CODE, SPA_FALLBACK_CODE, portal_config, resources

OUTPUTS = {
    "PortalBucketName": "ame-portal-bucket",
    "PortalDistributionId": "E123",
    "PortalDomainName": "d1.cloudfront.net",
    "PortalUserPoolId": "sa-east-1_Abc",
    "PortalClientId": "client123",
    "PortalSignInDomain": "ame-dev.auth.sa-east-1.amazoncognito.com",
    "PortalUrl": "https://d1.cloudfront.net/portal/",
}


@pytest.fixture()
def dist(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html>")
    (tmp_path / "assets" / "app-ab12.js").write_text("x")
    (tmp_path / "assets" / "app-ab12.css").write_text("y")
    return tmp_path


def test_plan_keeps_hashed_assets_forever_and_revalidates_index(dist):
    files = {f["key"]: f for f in portal_deploy.plan(dist)}
    assert set(files) == {"portal/index.html", "portal/assets/app-ab12.js", "portal/assets/app-ab12.css"}
    assert files["portal/index.html"]["cache_control"] == "no-cache"
    assert files["portal/assets/app-ab12.js"]["cache_control"].endswith("immutable")
    assert files["portal/assets/app-ab12.css"]["content_type"] == "text/css; charset=utf-8"


def test_plan_without_a_build_says_to_run_make_portal(tmp_path):
    with pytest.raises(FileNotFoundError, match="make portal"):
        portal_deploy.plan(tmp_path)


class FakeClient:
    def __init__(self, calls, name):
        self.calls, self.name = calls, name

    def __getattr__(self, method):
        def call(*args, **kwargs):
            self.calls.append((self.name, method, args, kwargs))
            if method == "describe_stacks":
                return {"Stacks": [{"Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in OUTPUTS.items()]}]}
            return {}

        return call


class FakeSession:
    def __init__(self):
        self.calls = []

    def client(self, name):
        return FakeClient(self.calls, name)


def test_upload_sends_every_file_the_stage_config_and_invalidates_the_unhashed_two(dist):
    session = FakeSession()
    message = portal_deploy.upload("ame-dev", "sa-east-1", portal_deploy.plan(dist), session=session)
    uploads = [c for c in session.calls if c[1] == "upload_file"]
    assert {c[2][2] for c in uploads} == {
        "portal/index.html",
        "portal/assets/app-ab12.js",
        "portal/assets/app-ab12.css",
    }
    [config] = [c for c in session.calls if c[1] == "put_object"]
    body = json.loads(config[3]["Body"])
    assert config[3]["Key"] == "portal/config.json" and body["apiBaseUrl"] == "https://d1.cloudfront.net"
    assert body["oidc"]["authority"] == "https://cognito-idp.sa-east-1.amazonaws.com/sa-east-1_Abc"
    assert body["oidc"]["redirect_uri"] == "https://d1.cloudfront.net/portal/callback"
    [invalidation] = [c for c in session.calls if c[1] == "create_invalidation"]
    assert invalidation[3]["InvalidationBatch"]["Paths"]["Items"] == ["/portal/index.html", "/portal/config.json"]
    assert "https://d1.cloudfront.net/portal/" in message


def test_config_has_the_local_shape():
    from ame_local.portal_site import portal_config as local_config

    deployed = portal_config(OUTPUTS, "sa-east-1")
    local = local_config("http://127.0.0.1:8000")
    assert set(local["oidc"]) <= set(deployed["oidc"]) and set(local) == set(deployed)


def test_every_portal_resource_exists_only_with_the_portal_and_the_bucket_is_private():
    found = resources()
    assert all(r["Condition"] == CONDITION for r in found.values())
    block = found["PortalBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(block.values())
    headers = found["PortalHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert headers["FrameOptions"]["FrameOption"] == "DENY" and headers["ContentTypeOptions"]["Override"]
    behaviours = found["PortalDistribution"]["Properties"]["DistributionConfig"]["CacheBehaviors"]
    assert {b["PathPattern"] for b in behaviours} >= {"/v1/*"}  # the API on the portal's origin: no CORS
    client = found["PortalUserPoolClient"]["Properties"]
    assert client["AllowedOAuthFlows"] == ["code"] and client["GenerateSecret"] is False


def test_the_pre_token_trigger_puts_areas_scopes_and_audience_in_the_access_token():
    namespace: dict = {}
    exec(compile(PRE_TOKEN_CODE, "pre_token", "exec"), namespace)
    event = {
        "request": {
            "userAttributes": {"custom:areas": "CREDITO_PJ, CONSIGNADO", "custom:scopes": "ame:orders:read ame:admin"}
        },
        "response": {},
    }
    access = namespace["handler"](event, None)["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"]
    assert access["claimsToAddOrOverride"] == {"areas": ["CREDITO_PJ", "CONSIGNADO"], "ame_aud": "ame"}
    assert access["scopesToAdd"] == ["ame:orders:read"]  # only AME's scopes


def test_spa_fallback_function_is_small_valid_cloudfront_js():
    assert "function handler(event)" in SPA_FALLBACK_CODE and len(SPA_FALLBACK_CODE) < 10_240
