"""The local stack's OpenID Connect provider, at `/oidc` on the API's own origin (PORTAL-INTERFACE, docs/api.md).

The portal signs people in here exactly as it signs in with Cognito when deployed: authorization code with
PKCE (S256 only), refresh tokens that rotate, RP-initiated logout. Access tokens are RS256 JWTs signed by the
local issuer's key; AME checks them through its normal path (AME_TOKEN_ISSUERS names this issuer and its
JWKS), so nothing in chalicelib knows this provider exists.

Kept in memory: authorization codes (single use, short-lived) and refresh tokens (one family per sign-in; a
rotated token used again revokes its whole family). Restarting the stack signs everybody out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from ame_local.config import REPO_ROOT

PREFIX = "/oidc"
CLIENT_ID = "portal"
ACCESS_AUDIENCE = "ame"
# How AME trusts this provider (its AME_TOKEN_ISSUERS entry, next to the jwks_url): as it trusts Cognito when
# deployed. `client_id` names the app (the portal); the person is `username`, recorded as portal:<username>.
AME_ISSUER_RULES = {"audience": ACCESS_AUDIENCE, "caller_claim": "username", "caller_prefix": "portal:"}
PORTAL_SCOPES = ("ame:orders:write", "ame:orders:read", "ame:quorum:simulate")
OIDC_SCOPES = ("openid", "profile", "offline_access")
DEFAULT_ACCESS_TTL = 900
DEFAULT_REFRESH_TTL = 8 * 3600
CODE_TTL = 60
USERS_FILE = REPO_ROOT / "ame_local" / "portal_users.json"
PBKDF2_ITERATIONS = 100_000

# The sign-in page's own headers: no script at all, nothing framed, nothing leaked in the Referer.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self' "
        "http://127.0.0.1:* http://localhost:*; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

Answer = tuple[int, dict[str, str], bytes]


def hash_password(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    found = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(found.hex(), digest)


@dataclass(frozen=True)
class PortalUser:
    username: str
    name: str
    areas: tuple[str, ...]
    scopes: tuple[str, ...]
    password_hash: str


def load_users(path: Path | None = None) -> dict[str, PortalUser]:
    data = json.loads(Path(path or USERS_FILE).read_text(encoding="utf-8"))
    return {
        u["username"]: PortalUser(u["username"], u["name"], tuple(u["areas"]), tuple(u["scopes"]), u["password_hash"])
        for u in data["users"]
    }


@dataclass(frozen=True)
class Client:
    client_id: str
    redirect_uris: frozenset[str]
    post_logout_redirect_uris: frozenset[str]


@dataclass
class _Code:
    user: PortalUser
    redirect_uri: str
    challenge: str
    scopes: tuple[str, ...]
    nonce: str | None
    expires: float
    family: str


@dataclass
class _Refresh:
    user: PortalUser
    scopes: tuple[str, ...]
    family: str
    expires: float
    auth_time: int  # when the person signed in: every ID token of the session carries it (OIDC Core §12.2)
    used: bool = False


@dataclass
class _State:
    codes: dict[str, _Code] = field(default_factory=dict)
    refresh: dict[str, _Refresh] = field(default_factory=dict)
    revoked_families: set[str] = field(default_factory=set)
    used_codes: dict[str, str] = field(default_factory=dict)  # code → family, to revoke on reuse


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


class OidcProvider:
    """Answers `/oidc/...` requests: `handle(method, path, query, headers, body)` → (status, headers, body).

    `signer` is an ame_local.issuer.LocalIssuer (its key signs; its JWKS is served here). `issuer` is the
    public URL of this provider (e.g. http://127.0.0.1:8000/oidc); `clients` the registered relying parties.
    """

    def __init__(
        self,
        issuer: str,
        signer: Any,
        clients: Iterable[Client],
        users: Mapping[str, PortalUser],
        access_ttl: int = DEFAULT_ACCESS_TTL,
        refresh_ttl: int = DEFAULT_REFRESH_TTL,
        code_ttl: int = CODE_TTL,
        clock: Callable[[], float] = time.time,
    ):
        self.issuer = issuer.rstrip("/")
        self._signer, self._users = signer, dict(users)
        self._clients = {c.client_id: c for c in clients}
        self.access_ttl, self.refresh_ttl, self.code_ttl = access_ttl, refresh_ttl, code_ttl
        self._clock = clock
        self._state = _State()
        self._lock = threading.Lock()

    @classmethod
    def for_portal(
        cls,
        origin: str,
        signer: Any,
        env: Mapping[str, str] | None = None,
        users: Mapping[str, PortalUser] | None = None,
    ) -> OidcProvider:
        """The provider `make run` starts: the portal at `origin`/portal/ is its only client."""
        env = os.environ if env is None else env
        origin = origin.rstrip("/")
        client = Client(
            CLIENT_ID, frozenset({f"{origin}/portal/callback"}), frozenset({f"{origin}/portal/", f"{origin}/portal"})
        )
        return cls(
            origin + PREFIX,
            signer,
            [client],
            users if users is not None else load_users(),
            access_ttl=int(env.get("AME_OIDC_ACCESS_TOKEN_TTL") or DEFAULT_ACCESS_TTL),
            refresh_ttl=int(env.get("AME_OIDC_REFRESH_TOKEN_TTL") or DEFAULT_REFRESH_TTL),
        )

    @property
    def jwks_url(self) -> str:
        return self.issuer + "/jwks"

    # -- dispatch ---------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Answer:
        route = path[len(PREFIX) :] if path.startswith(PREFIX) else path
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        if method in ("POST",):
            content_type = (headers.get("content-type") or headers.get("Content-Type") or "").split(";")[0].strip()
            if content_type != "application/x-www-form-urlencoded":
                return _oauth_error(400, "invalid_request", "envie o corpo como application/x-www-form-urlencoded")
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        else:
            form = {}
        routes: dict[tuple[str, str], Callable[[], Answer]] = {
            ("GET", "/.well-known/openid-configuration"): self._discovery,
            ("GET", "/jwks"): lambda: _json(200, self._signer.jwks(), {"Cache-Control": "max-age=300"}),
            ("GET", "/authorize"): lambda: self._authorize_page(params),
            ("POST", "/authorize"): lambda: self._authorize_submit(form),
            ("POST", "/token"): lambda: self._token(form),
            ("GET", "/userinfo"): lambda: self._userinfo(headers),
            ("GET", "/logout"): lambda: self._logout(params),
            ("GET", "/login.css"): lambda: (
                200,
                {"Content-Type": "text/css; charset=utf-8", "Cache-Control": "max-age=3600"},
                LOGIN_CSS.encode(),
            ),
        }
        handler = routes.get((method, route))
        if handler is None:
            if any(r == route for _, r in routes):
                return _oauth_error(405, "invalid_request", "método não permitido")
            return _oauth_error(404, "not_found", "rota inexistente")
        return handler()

    def _discovery(self) -> Answer:
        return _json(
            200,
            {
                "issuer": self.issuer,
                "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token",
                "userinfo_endpoint": self.issuer + "/userinfo",
                "jwks_uri": self.jwks_url,
                "end_session_endpoint": self.issuer + "/logout",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["none"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": [*OIDC_SCOPES, *PORTAL_SCOPES],
                "claims_supported": ["sub", "name", "preferred_username", "areas"],
            },
        )

    # -- authorize ---------------------------------------------------------------------------------
    def _check_client(self, params: Mapping[str, str]) -> tuple[Client | None, str | None]:
        """The client and redirect_uri, or an error page's text: a bad redirect_uri is never redirected to."""
        client = self._clients.get(params.get("client_id", ""))
        if client is None:
            return None, "client_id desconhecido"
        if params.get("redirect_uri") not in client.redirect_uris:
            return None, "redirect_uri não registrado para este cliente"
        return client, None

    def _request_error(self, params: Mapping[str, str]) -> str | None:
        if params.get("response_type") != "code":
            return "unsupported_response_type"
        if params.get("code_challenge_method") != "S256" or not _valid_challenge(params.get("code_challenge", "")):
            return "invalid_request"
        if "openid" not in params.get("scope", "").split():
            return "invalid_scope"
        return None

    def _authorize_page(self, params: Mapping[str, str]) -> Answer:
        _, problem = self._check_client(params)
        if problem:
            return _page(
                400, "Não foi possível entrar", f"<p>Pedido de autenticação inválido: {html.escape(problem)}.</p>"
            )
        error = self._request_error(params)
        if error:
            return _redirect(params["redirect_uri"], {"error": error, "state": params.get("state")}, self.issuer)
        if params.get("prompt") == "none":
            return _redirect(
                params["redirect_uri"], {"error": "login_required", "state": params.get("state")}, self.issuer
            )
        return self._login_form(params, None, 200)

    def _login_form(self, params: Mapping[str, str], error: str | None, status: int, username: str = "") -> Answer:
        carried = (
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
        )
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(params.get(k, ""))}">'
            for k in carried
            if params.get(k) is not None
        )
        alert = f'<p class="erro" role="alert" id="erro">{html.escape(error)}</p>' if error else ""
        described = ' aria-describedby="erro" aria-invalid="true"' if error else ""
        body = f"""<p>Use seu usuário do Portal de Documentos.</p>
{alert}<form method="post" action="{PREFIX}/authorize">
{hidden}
<div class="campo"><label for="username">Usuário</label>
<input id="username" name="username" type="text" autocomplete="username" required value="{html.escape(username)}"{described}></div>
<div class="campo"><label for="password">Senha</label>
<input id="password" name="password" type="password" autocomplete="current-password" required{described}></div>
<button type="submit">Entrar</button>
</form>"""
        return _page(status, "Entrar no Portal de Documentos", body)

    def _authorize_submit(self, form: Mapping[str, str]) -> Answer:
        _, problem = self._check_client(form)
        if problem:
            return _page(
                400, "Não foi possível entrar", f"<p>Pedido de autenticação inválido: {html.escape(problem)}.</p>"
            )
        error = self._request_error(form)
        if error:
            return _redirect(form["redirect_uri"], {"error": error, "state": form.get("state")}, self.issuer)
        user = self._users.get(form.get("username", "").strip())
        if user is None or not check_password(form.get("password", ""), user.password_hash):
            return self._login_form(form, "Usuário ou senha inválidos.", 401, form.get("username", ""))
        requested = form.get("scope", "").split()
        scopes = tuple(s for s in requested if s in OIDC_SCOPES or s in user.scopes)
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._purge()
            self._state.codes[code] = _Code(
                user,
                form["redirect_uri"],
                form["code_challenge"],
                scopes,
                form.get("nonce") or None,
                self._clock() + self.code_ttl,
                secrets.token_hex(8),
            )
        return _redirect(form["redirect_uri"], {"code": code, "state": form.get("state")}, self.issuer)

    # -- token -------------------------------------------------------------------------------------
    def _token(self, form: Mapping[str, str]) -> Answer:
        grant = form.get("grant_type")
        if form.get("client_id") not in self._clients:
            return _oauth_error(401, "invalid_client", "client_id desconhecido")
        if grant == "authorization_code":
            return self._code_grant(form)
        if grant == "refresh_token":
            return self._refresh_grant(form)
        return _oauth_error(400, "unsupported_grant_type", "use authorization_code ou refresh_token")

    def _code_grant(self, form: Mapping[str, str]) -> Answer:
        code_value = form.get("code", "")
        now = self._clock()
        with self._lock:
            code = self._state.codes.pop(code_value, None)  # single use, whatever happens next
            if code is None:
                family = self._state.used_codes.get(code_value)
                if family:  # a code used twice: whatever it bought is revoked (RFC 6749 §4.1.2)
                    self._revoke_family(family)
                return _oauth_error(400, "invalid_grant", "código inválido, expirado ou já usado")
            self._state.used_codes[code_value] = code.family
        if code.expires < now:
            return _oauth_error(400, "invalid_grant", "código inválido, expirado ou já usado")
        if form.get("redirect_uri") != code.redirect_uri:
            return _oauth_error(400, "invalid_grant", "redirect_uri diferente do usado na autorização")
        verifier = form.get("code_verifier", "")
        if not _valid_verifier(verifier) or not hmac.compare_digest(s256(verifier), code.challenge):
            return _oauth_error(400, "invalid_grant", "code_verifier não confere (PKCE)")
        return self._issue(code.user, code.scopes, code.family, nonce=code.nonce, id_token=True)

    def _refresh_grant(self, form: Mapping[str, str]) -> Answer:
        value = form.get("refresh_token", "")
        now = self._clock()
        with self._lock:
            entry = self._state.refresh.get(value)
            if entry is None or entry.family in self._state.revoked_families:
                return _oauth_error(400, "invalid_grant", "sessão expirada; entre novamente")
            if entry.used:  # a rotated token came back: someone copied it; end the whole sign-in
                self._revoke_family(entry.family)
                return _oauth_error(400, "invalid_grant", "sessão expirada; entre novamente")
            entry.used = True
        if entry.expires < now:
            return _oauth_error(400, "invalid_grant", "sessão expirada; entre novamente")
        return self._issue(
            entry.user, entry.scopes, entry.family, expires=entry.expires, id_token=True, auth_time=entry.auth_time
        )

    def _issue(
        self,
        user: PortalUser,
        scopes: tuple[str, ...],
        family: str,
        *,
        nonce: str | None = None,
        id_token: bool = True,
        expires: float | None = None,
        auth_time: int | None = None,
    ) -> Answer:
        import jwt

        now = int(self._clock())
        signed_in = auth_time if auth_time is not None else now
        granted = [s for s in scopes if s in PORTAL_SCOPES]
        access = self._signer.mint(
            CLIENT_ID,
            user.areas,
            granted,
            ttl_seconds=self.access_ttl,
            now=now,
            iss=self.issuer,
            aud=ACCESS_AUDIENCE,
            sub=user.username,
            username=user.username,
            name=user.name,
        )
        refresh = secrets.token_urlsafe(32)
        with self._lock:
            # The refresh lifetime counts from the sign-in: rotation does not extend the session.
            self._state.refresh[refresh] = _Refresh(
                user, scopes, family, expires if expires is not None else now + self.refresh_ttl, signed_in
            )
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_ttl,
            "refresh_token": refresh,
            "scope": " ".join(scopes),
        }
        if id_token and "openid" in scopes:
            claims = {
                "iss": self.issuer,
                "aud": CLIENT_ID,
                "sub": user.username,
                "name": user.name,
                "preferred_username": user.username,
                "areas": list(user.areas),
                "iat": now,
                "exp": now + self.access_ttl,
                "auth_time": signed_in,
            }
            if nonce:
                claims["nonce"] = nonce
            answer["id_token"] = jwt.encode(
                claims, self._signer.private_key, algorithm="RS256", headers={"kid": self._signer.kid}
            )
        return _json(200, answer, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _revoke_family(self, family: str) -> None:
        self._state.revoked_families.add(family)
        for token in [t for t, e in self._state.refresh.items() if e.family == family]:
            del self._state.refresh[token]

    def _purge(self) -> None:
        now = self._clock()
        for code in [c for c, e in self._state.codes.items() if e.expires < now]:
            del self._state.codes[code]
        for token in [t for t, e in self._state.refresh.items() if e.expires < now]:
            del self._state.refresh[token]

    # -- userinfo and logout -----------------------------------------------------------------------
    def _userinfo(self, headers: Mapping[str, str]) -> Answer:
        import jwt

        auth = headers.get("authorization") or headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        try:
            claims = jwt.decode(
                token.strip(),
                self._signer.private_key.public_key(),
                algorithms=["RS256"],
                audience=ACCESS_AUDIENCE,
                issuer=self.issuer,
            )
        except jwt.PyJWTError:
            return (
                401,
                {"Content-Type": "application/json", "WWW-Authenticate": 'Bearer error="invalid_token"'},
                b'{"error": "invalid_token"}',
            )
        user = self._users.get(str(claims.get("sub")))
        if scheme.lower() != "bearer" or user is None:
            return _oauth_error(401, "invalid_token", "token inválido")
        return _json(
            200,
            {"sub": user.username, "name": user.name, "preferred_username": user.username, "areas": list(user.areas)},
        )

    def _logout(self, params: Mapping[str, str]) -> Answer:
        target = params.get("post_logout_redirect_uri")
        allowed = any(target in c.post_logout_redirect_uris for c in self._clients.values())
        if target and allowed:
            query = {"state": params["state"]} if params.get("state") else {}
            return _redirect(target, query, None)
        return _page(200, "Você saiu", "<p>Você saiu do Portal de Documentos.</p>")


def _valid_verifier(value: str) -> bool:
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    return 43 <= len(value) <= 128 and set(value) <= allowed


def _valid_challenge(value: str) -> bool:
    return len(value) == 43 and set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Answer:
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(body, ensure_ascii=False).encode(),
    )


def _oauth_error(status: int, error: str, description: str) -> Answer:
    return _json(status, {"error": error, "error_description": description}, {"Cache-Control": "no-store"})


def _redirect(target: str, query: Mapping[str, str | None], issuer: str | None) -> Answer:
    values = {k: v for k, v in query.items() if v is not None}
    if issuer and ("code" in values or "error" in values):
        values["iss"] = issuer  # RFC 9207: the client can tell which provider answered
    separator = "&" if urlsplit(target).query else "?"
    location = target + (separator + urlencode(values) if values else "")
    return 302, {"Location": location, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}, b""


def _page(status: int, title: str, content: str) -> Answer:
    document = f"""<!doctype html>
<html lang="pt-BR">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><link rel="stylesheet" href="{PREFIX}/login.css"></head>
<body><main><h1>{html.escape(title)}</h1>
{content}
</main></body></html>"""
    return status, {"Content-Type": "text/html; charset=utf-8", **PAGE_HEADERS}, document.encode()


LOGIN_CSS = """
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;background:#f4f5f7;color:#1b1f24}
main{max-width:24rem;margin:3rem auto;padding:2rem;background:#fff;border:1px solid #c9ced6;border-radius:.5rem}
h1{font-size:1.4rem;margin:0 0 1rem}
.campo{margin:1rem 0}
label{display:block;font-weight:600;margin-bottom:.25rem}
input{width:100%;padding:.6rem;font-size:1rem;border:1px solid #5b6470;border-radius:.25rem}
input:focus,button:focus{outline:3px solid #0b5cad;outline-offset:2px}
button{width:100%;padding:.7rem;font-size:1rem;font-weight:600;color:#fff;background:#0b5cad;border:0;border-radius:.25rem;cursor:pointer}
.erro{color:#8a1010;background:#fdecec;border:1px solid #8a1010;padding:.5rem;border-radius:.25rem}
"""
