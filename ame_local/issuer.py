"""The local stack's token issuer: an RSA key kept in .local/, its JWKS over HTTP, and `make token`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ame_local.background import ServedInBackground
from ame_local.config import REPO_ROOT

ISSUER = "ame-local-issuer"
AUDIENCE = "ame"
JWKS_PATH = "/.well-known/jwks.json"
DEFAULT_TTL_SECONDS = 3600


def default_key_path() -> Path:
    return Path(os.environ.get("AME_LOCAL_ISSUER_KEY") or REPO_ROOT / ".local" / "issuer-key.pem")


class LocalIssuer:
    """Signs RS256 tokens the local stack accepts. Tests build one with a throw-away key (`generate`)."""

    def __init__(self, private_key: Any, kid: str, issuer: str = ISSUER, audience: str = AUDIENCE):
        self.private_key, self.kid, self.issuer, self.audience = private_key, kid, issuer, audience

    @classmethod
    def generate(cls, kid: str | None = None, **kwargs: Any) -> LocalIssuer:
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(key, kid or f"test-{uuid.uuid4().hex[:8]}", **kwargs)

    @classmethod
    def load_or_create(cls, path: Path | None = None) -> LocalIssuer:
        """The same key across restarts, so a token from `make token` outlives a `make run` restart."""
        from cryptography.hazmat.primitives import serialization

        path = Path(path or default_key_path())
        if not path.exists():
            issuer = cls.generate()
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = issuer.private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            # Write then rename: a concurrent reader never sees half a key.
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(pem)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        return cls(key, kid=_kid_of(key))

    def jwks(self) -> dict[str, Any]:
        from chalicelib.auth import jwks_document

        return jwks_document({self.kid: self.private_key.public_key()})

    def mint(
        self,
        client: str,
        areas: Iterable[str],
        scopes: Iterable[str] | None = None,
        *,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        now: float | None = None,
        **claims: Any,
    ) -> str:
        import jwt

        from chalicelib.auth import ALL_SCOPES

        issued = int(time.time() if now is None else now)
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": client,
            "client_id": client,
            "scope": " ".join(ALL_SCOPES if scopes is None else scopes),
            "areas": list(areas),
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        for name, value in claims.items():  # a claim given as None is left out (tests of missing claims)
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = value
        return jwt.encode(payload, self.private_key, algorithm="RS256", headers={"kid": self.kid})


def _kid_of(key: Any) -> str:
    import hashlib

    from cryptography.hazmat.primitives import serialization

    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "local-" + hashlib.sha256(der).hexdigest()[:16]


class JwksServer(ServedInBackground):
    """Serves the issuer's JWKS (and nothing else) on host:port; port 0 picks a free one."""

    def __init__(self, issuer: LocalIssuer, host: str = "127.0.0.1", port: int = 0):
        body = json.dumps(issuer.jwks()).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = self.path.split("?")[0] == JWKS_PATH
                payload = body if found else b'{"error": "not found"}'
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{JWKS_PATH}"

    def _thread_name(self) -> str:
        return "ame-local-jwks"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ame_local.issuer", description="AME's local token issuer")
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="print a token the local stack accepts")
    token.add_argument("--client", required=True, help="client_id claim (recorded as created_by)")
    token.add_argument("--areas", default="", help="comma-separated area codes the caller serves")
    token.add_argument("--scopes", default="", help="comma- or space-separated scopes (default: all)")
    token.add_argument("--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="seconds until it expires")
    args = parser.parse_args(argv)
    from chalicelib.auth import CLIENT_ID_PATTERN

    if not CLIENT_ID_PATTERN.fullmatch(args.client):
        # AME would refuse the token (docs/security.md, "Token claims"): say so now, not at the first call.
        parser.error(f"--client {args.client!r}: 3 to 64 lower-case letters, digits or '-', starting with no '-'")
    scopes = [s for s in args.scopes.replace(",", " ").split() if s] or None
    areas = [a for a in args.areas.split(",") if a.strip()]
    issuer = LocalIssuer.load_or_create()
    print(issuer.mint(args.client, [a.strip() for a in areas], scopes, ttl_seconds=args.ttl))
    return 0


if __name__ == "__main__":
    sys.exit(main())
