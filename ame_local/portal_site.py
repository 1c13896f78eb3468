"""The portal on the API's own origin in the local stack: `/portal/` (the built SPA), `/portal/config.json`,
and the local OIDC provider at `/oidc` (PORTAL-INTERFACE; deployed, CloudFront serves both from S3 and
Cognito signs people in: docs/deploy.md).

The local HTTP server hands every path under these prefixes to `LocalSites.answer` before Chalice sees it,
so AME's Lambda code knows nothing about them.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ame_local.config import REPO_ROOT

PORTAL_PREFIX = "/portal"
DIST_DIR = REPO_ROOT / "portal" / "dist"
PORTAL_SCOPE = "openid profile ame:orders:write ame:orders:read ame:quorum:simulate"

# The same policy the deployed CloudFront response-headers policy sets (infra/portal_template.py).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

Answer = tuple[int, dict[str, str], bytes]


def portal_config(origin: str) -> dict[str, Any]:
    """What the SPA reads at start (`/portal/config.json`): where the API is and how to sign in."""
    origin = origin.rstrip("/")
    return {
        "apiBaseUrl": origin,
        "oidc": {
            "authority": f"{origin}/oidc",
            "client_id": "portal",
            "redirect_uri": f"{origin}/portal/callback",
            "post_logout_redirect_uri": f"{origin}/portal/",
            "scope": PORTAL_SCOPE,
        },
    }


class PortalSite:
    """Files of the built SPA under /portal/, index.html for any other path (SPA fallback), generated config."""

    def __init__(self, origin: str, dist_dir: Path | None = None):
        self.origin = origin.rstrip("/")
        self.dist_dir = Path(dist_dir or DIST_DIR).resolve()

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Answer:
        if method not in ("GET", "HEAD"):
            return _text(405, "método não permitido", {"Allow": "GET, HEAD"})
        if path == PORTAL_PREFIX:
            return 301, {"Location": PORTAL_PREFIX + "/", **SECURITY_HEADERS}, b""
        relative = unquote(path[len(PORTAL_PREFIX) + 1 :])
        if relative == "config.json":
            body_bytes = json.dumps(portal_config(self.origin), ensure_ascii=False).encode()
            return (
                200,
                {"Content-Type": "application/json", "Cache-Control": "no-cache", **SECURITY_HEADERS},
                body_bytes,
            )
        file = self._file(relative)
        if file is not None:
            content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
                content_type += "; charset=utf-8"
            # Vite-style hashed names under assets/ never change; everything else is revalidated.
            cache = "public, max-age=31536000, immutable" if relative.startswith("assets/") else "no-cache"
            return 200, {"Content-Type": content_type, "Cache-Control": cache, **SECURITY_HEADERS}, file.read_bytes()
        index = self.dist_dir / "index.html"
        if not index.is_file():
            return _text(503, "o portal ainda não foi construído: rode `make portal` (ou `make run`)")
        return (
            200,
            {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache", **SECURITY_HEADERS},
            index.read_bytes(),
        )

    def _file(self, relative: str) -> Path | None:
        if not relative or relative.endswith("/"):
            return None
        candidate = (self.dist_dir / relative).resolve()
        if self.dist_dir not in candidate.parents or not candidate.is_file():
            return None  # outside dist (../), or not there: the SPA answers
        return candidate


def _text(status: int, message: str, headers: Mapping[str, str] | None = None) -> Answer:
    return (
        status,
        {"Content-Type": "text/plain; charset=utf-8", **SECURITY_HEADERS, **(headers or {})},
        message.encode(),
    )


class LocalSites:
    """Prefix → handler(method, path, query, headers, body). Paths under no prefix go to Chalice."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, Callable[..., Answer]]] = []

    def mount(self, prefix: str, handler: Callable[..., Answer]) -> None:
        self._routes.append((prefix.rstrip("/"), handler))

    def answer(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer | None:
        parts = urlsplit(target)
        for prefix, handler in self._routes:
            if parts.path == prefix or parts.path.startswith(prefix + "/"):
                return handler(method, parts.path, parts.query, headers, body)
        return None


def site_handler(base: type, sites: LocalSites) -> type:
    """`base` (a chalice.local request handler class) answering `sites`' prefixes itself."""

    class SiteHandler(base):  # type: ignore[misc, valid-type]
        def _generic_handle(self) -> None:
            answered = None
            if self.path.startswith(tuple(p for p, _ in sites._routes)):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length > 0 else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                answered = sites.answer(self.command, self.path, headers, body)
                if answered is None:
                    answered = 404, {"Content-Type": "text/plain; charset=utf-8"}, b"not found"
            if answered is None:
                super()._generic_handle()
                return
            status, headers, payload = answered
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(payload))}.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        # chalice.local binds each do_X to its own _generic_handle at class creation: rebind them.
        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    SiteHandler.__name__ = f"Site{base.__name__}"
    return SiteHandler
