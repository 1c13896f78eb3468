"""Sign a seeded portal user in through the local stack's /oidc over HTTP, as the SPA does (PKCE S256)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import requests

PASSWORD = "senha-local"
SCOPE = "openid profile ame:orders:write ame:orders:read ame:quorum:simulate"


def sign_in(api_url: str, username: str, password: str = PASSWORD) -> dict:
    """The token endpoint's answer (access_token, refresh_token, id_token...) for `username`."""
    config = requests.get(f"{api_url}/portal/config.json", timeout=5).json()["oidc"]
    discovery = requests.get(config["authority"] + "/.well-known/openid-configuration", timeout=5).json()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "response_type": "code",
        "client_id": config["client_id"],
        "redirect_uri": config["redirect_uri"],
        "scope": SCOPE,
        "state": secrets.token_hex(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    form = requests.get(discovery["authorization_endpoint"], params=params, timeout=5)
    form.raise_for_status()
    answer = requests.post(
        discovery["authorization_endpoint"],
        data={**params, "username": username, "password": password},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = requests.post(
        discovery["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "client_id": config["client_id"],
            "code": code,
            "redirect_uri": config["redirect_uri"],
            "code_verifier": verifier,
        },
        timeout=5,
    )
    tokens.raise_for_status()
    return tokens.json()


def bearer(api_url: str, username: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + sign_in(api_url, username)["access_token"]}
