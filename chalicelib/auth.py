"""Caller identity: RS256 bearer tokens checked against a cached JWKS, scopes and areas (issue 8)."""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

log = logging.getLogger(__name__)

SCOPE_WRITE = "ame:orders:write"
SCOPE_READ = "ame:orders:read"
SCOPE_SIMULATE = "ame:quorum:simulate"
ALL_SCOPES = (SCOPE_WRITE, SCOPE_READ, SCOPE_SIMULATE)

ALGORITHMS = ["RS256"]  # never taken from the token header: no "alg": "none" or HS256 with the public key
MAX_TOKEN_CHARS = 8192
_CLIENT_ID_MAX = 64  # orders.created_by is a String(64)


class TokenError(Exception):
    """The request carries no usable identity (401). `code` names the defect, `detail` says it in Portuguese."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code, self.detail = code, detail


class ScopeMissing(Exception):
    """A valid caller asked for something its token does not allow (403)."""

    def __init__(self, scope: str):
        super().__init__(scope)
        self.scope = scope


class AreaNotAllowed(Exception):
    """A valid caller named an area it does not serve (403)."""

    def __init__(self, area_code: str, field: str = "area_code"):
        super().__init__(area_code)
        self.area_code, self.field = area_code, field


@dataclass(frozen=True)
class Caller:
    client_id: str
    scopes: frozenset[str]
    areas: frozenset[str]

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise ScopeMissing(scope)

    def serves(self, area_code: str) -> bool:
        return area_code in self.areas

    def to_context(self) -> dict[str, str]:
        """API Gateway passes only flat string values from the authorizer to the function."""
        return {"client_id": self.client_id, "scope": " ".join(sorted(self.scopes)),
                "areas": ",".join(sorted(self.areas))}

    @classmethod
    def from_context(cls, context: Mapping[str, Any] | None) -> "Caller":
        context = context or {}
        error = context.get("auth_error")
        if error:
            raise TokenError(str(error), str(context.get("auth_detail") or "token inválido"))
        client_id = context.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            # The authorizer did not run for this route: fail closed.
            raise TokenError("MISSING_TOKEN", "envie o cabeçalho Authorization: Bearer <token>")
        return cls(client_id=client_id,
                   scopes=frozenset(str(context.get("scope") or "").split()),
                   areas=frozenset(a for a in str(context.get("areas") or "").split(",") if a))


class JwksCache:
    """The issuer's public keys, fetched on first use and kept `ttl_seconds`.

    An unknown `kid` forces one refetch (the issuer rotated its keys), at most every `min_refetch_seconds`,
    so a flood of tokens with made-up key ids cannot turn into a flood of JWKS requests.
    """

    def __init__(self, fetch: Callable[[], Mapping[str, Any]], ttl_seconds: float = 300.0,
                 min_refetch_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self._fetch, self._ttl, self._min_refetch, self._clock = fetch, ttl_seconds, min_refetch_seconds, clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str | None) -> Any:
        now = self._clock()
        with self._lock:
            stale = self._fetched_at is None or now - self._fetched_at >= self._ttl
            unknown = kid not in self._keys and (self._fetched_at is None
                                                 or now - self._fetched_at >= self._min_refetch)
            if stale or unknown:
                self._refresh(now)
            if kid is None and len(self._keys) == 1:
                return next(iter(self._keys.values()))
            found = self._keys.get(kid or "")
        if found is None:
            raise TokenError("UNKNOWN_KEY", "o token foi assinado por uma chave desconhecida")
        return found

    def _refresh(self, now: float) -> None:
        import jwt

        try:
            document = self._fetch()
            keys = {}
            for entry in jwt.PyJWKSet.from_dict(dict(document)).keys:
                if entry.key_id and entry.public_key_use in (None, "sig") and entry.key_type == "RSA":
                    keys[entry.key_id] = entry.key
        except Exception as exc:  # noqa: BLE001 — an unreachable issuer must not look like a bad token forever
            log.warning("JWKS unavailable", extra={"error": str(exc)})
            if not self._keys:
                raise TokenError("JWKS_UNAVAILABLE", "não foi possível obter as chaves do emissor de tokens") from exc
            return  # keep serving the keys we have
        self._keys, self._fetched_at = keys, now


def http_jwks_fetcher(url: str, timeout: float = 3.0, session: Any = None) -> Callable[[], Mapping[str, Any]]:
    def fetch() -> Mapping[str, Any]:
        import requests

        response = (session or requests).get(url, timeout=timeout)
        response.raise_for_status()
        return response.json()

    return fetch


class TokenVerifier:
    """Turns an `Authorization` header into a Caller, or raises TokenError naming what is wrong."""

    def __init__(self, jwks: JwksCache | None, issuer: str | None, audience: str | None, leeway_seconds: float = 30.0):
        self._jwks, self._issuer, self._audience, self._leeway = jwks, issuer, audience, leeway_seconds

    def verify_header(self, header: str | None) -> Caller:
        if not header:
            raise TokenError("MISSING_TOKEN", "envie o cabeçalho Authorization: Bearer <token>")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TokenError("INVALID_AUTHORIZATION_HEADER", "o cabeçalho Authorization deve ser 'Bearer <token>'")
        return self.verify(token)

    def verify(self, token: str) -> Caller:
        if self._jwks is None or not self._issuer or not self._audience:
            raise TokenError("AUTH_NOT_CONFIGURED", "a verificação de tokens não está configurada")
        import jwt

        if len(token) > MAX_TOKEN_CHARS:
            raise TokenError("MALFORMED_TOKEN", "o token é grande demais")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("MALFORMED_TOKEN", "o token não é um JWT válido") from None
        if header.get("alg") not in ALGORITHMS:
            raise TokenError("UNSUPPORTED_ALGORITHM", "o token deve ser assinado com RS256")
        kid = header.get("kid")
        key = self._jwks.key(kid if isinstance(kid, str) else None)
        try:
            claims = jwt.decode(
                token, key=key, algorithms=ALGORITHMS, audience=self._audience, issuer=self._issuer,
                leeway=self._leeway, options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("TOKEN_EXPIRED", "o token expirou") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("TOKEN_NOT_YET_VALID", "o token ainda não é válido (nbf/iat no futuro)") from None
        except jwt.InvalidAudienceError:
            raise TokenError("INVALID_AUDIENCE", "o token não é destinado a esta API") from None
        except jwt.InvalidIssuerError:
            raise TokenError("INVALID_ISSUER", "o token não foi emitido pelo emissor esperado") from None
        except jwt.InvalidSignatureError:
            raise TokenError("INVALID_SIGNATURE", "a assinatura do token não confere") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError("MISSING_CLAIM", f"o token não tem a claim obrigatória {exc.claim}") from None
        except jwt.PyJWTError:
            raise TokenError("INVALID_TOKEN", "o token é inválido") from None
        return _caller_from_claims(claims)


def _caller_from_claims(claims: Mapping[str, Any]) -> Caller:
    client_id = claims.get("client_id")
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= _CLIENT_ID_MAX or not client_id.isprintable():
        raise TokenError("MISSING_CLAIM", "o token não tem uma claim client_id válida")
    scope = claims.get("scope", "")
    scopes = scope.split() if isinstance(scope, str) else scope if isinstance(scope, list) else None
    areas = claims.get("areas", [])
    if isinstance(areas, str):
        areas = [a for a in areas.replace(",", " ").split() if a]
    if scopes is None or not isinstance(areas, list) or not all(isinstance(x, str) for x in [*scopes, *areas]):
        raise TokenError("INVALID_CLAIM", "as claims scope e areas devem ser texto ou listas de texto")
    if any("," in a or not a for a in areas):
        raise TokenError("INVALID_CLAIM", "a claim areas tem um código de área inválido")
    return Caller(client_id=client_id, scopes=frozenset(scopes), areas=frozenset(areas))


def authorizer_context(verifier: TokenVerifier, header: str | None) -> tuple[str, dict[str, str]]:
    """(principal id, context) the API Gateway authorizer returns for this header.

    A bad token is still let through, carrying its defect in the context: the function then answers a
    401 problem document that names it (API Gateway's own 401 can say nothing but "Unauthorized").
    Routes refuse any request whose context has no verified client_id.
    """
    try:
        caller = verifier.verify_header(header)
    except TokenError as exc:
        return "anonymous", {"auth_error": exc.code, "auth_detail": exc.detail}
    return caller.client_id, caller.to_context()


def jwks_document(public_keys: Mapping[str, Any]) -> dict[str, Any]:
    """A JWKS with the given {kid: RSA public key}; the local issuer and tests serve this."""
    import jwt

    keys = []
    for kid, key in public_keys.items():
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
        keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
    return {"keys": keys}
