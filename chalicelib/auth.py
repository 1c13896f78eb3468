"""Caller identity: RS256 bearer tokens checked against a cached JWKS, scopes and areas."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

SCOPE_WRITE = "ame:orders:write"
SCOPE_READ = "ame:orders:read"
SCOPE_SIMULATE = "ame:quorum:simulate"
# Not one of the scopes every caller gets: full CPFs in what-if answers (docs/security.md).
SCOPE_PERSONAL_DATA = "ame:personal-data:read"
ALL_SCOPES = (SCOPE_WRITE, SCOPE_READ, SCOPE_SIMULATE)

ALGORITHMS = ["RS256"]  # never taken from the token header: no "alg": "none" or HS256 with the public key
MAX_TOKEN_CHARS = 8192
# How long a verified token's caller is reused without decoding it again (TokenVerifier.verify), and how
# many tokens are kept. Five minutes is API Gateway's default authorizer cache; keys removed from the JWKS
# stop a reused token at most this long after they go.
VERIFIED_REUSE_SECONDS = 300.0
VERIFIED_REUSE_MAX_TOKENS = 1024
_CLIENT_ID_MAX = 64  # orders.created_by is a String(64)

# What a caller may be called (docs/security.md, "Token claims"). One spelling per caller: lower-case ASCII
# only, so a trailing space, an upper-case twin or a Cyrillic look-alike is refused, never a new caller with
# its own idempotency keys and rate bucket. Products (and OAuth app clients, Cognito's included) are
# `client_id`; people signed in to the portal are recorded as `caller_prefix` + their user name.
CLIENT_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{2,63}")
USER_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._@-]{0,62}")
# An area code as the token may name it: the shape of a code sent to a partner as a path segment.
AREA_CODE_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")
# RFC 7519 NumericDate claims. Integers only: PyJWT would take "1764000000" or true (= 1) as a date.
NUMERIC_DATE_CLAIMS = ("exp", "iat", "nbf", "auth_time")
_SUBJECT_MAX = 255


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
    subject: str | None = None  # the token's `sub`, when it has one (audit records keep it)

    def require(self, scope: str | tuple[str, ...]) -> None:
        """One scope, or a tuple of which any one is enough."""
        wanted = scope if isinstance(scope, tuple) else (scope,)
        if not self.scopes.intersection(wanted):
            raise ScopeMissing(" ou ".join(wanted))

    def serves(self, area_code: str) -> bool:
        return area_code in self.areas

    def to_context(self) -> dict[str, str]:
        """API Gateway passes only flat string values from the authorizer to the function."""
        context = {
            "client_id": self.client_id,
            "scope": " ".join(sorted(self.scopes)),
            "areas": ",".join(sorted(self.areas)),
        }
        if self.subject:
            context["subject"] = self.subject
        return context

    @classmethod
    def from_context(cls, context: Mapping[str, Any] | None) -> Caller:
        context = context or {}
        error = context.get("auth_error")
        if error:
            raise TokenError(str(error), str(context.get("auth_detail") or "token inválido"))
        client_id = context.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            # The authorizer did not run for this route: fail closed.
            raise TokenError("MISSING_TOKEN", "envie o cabeçalho Authorization: Bearer <token>")
        subject = context.get("subject")
        return cls(
            client_id=client_id,
            scopes=frozenset(str(context.get("scope") or "").split()),
            areas=frozenset(a for a in str(context.get("areas") or "").split(",") if a),
            subject=subject if isinstance(subject, str) and subject else None,
        )


class JwksCache:
    """The issuer's public keys, fetched on first use and kept `ttl_seconds`.

    An unknown `kid` forces one refetch (the issuer rotated its keys), at most every `min_refetch_seconds`,
    so a flood of tokens with made-up key ids cannot turn into a flood of JWKS requests.
    """

    def __init__(
        self,
        fetch: Callable[[], Mapping[str, Any]],
        ttl_seconds: float = 300.0,
        min_refetch_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._fetch, self._ttl, self._min_refetch, self._clock = fetch, ttl_seconds, min_refetch_seconds, clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str | None) -> Any:
        now = self._clock()
        with self._lock:
            stale = self._fetched_at is None or now - self._fetched_at >= self._ttl
            unknown = kid not in self._keys and (
                self._fetched_at is None or now - self._fetched_at >= self._min_refetch
            )
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
        except Exception as exc:
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


@dataclass(frozen=True)
class TrustedIssuer:
    """One issuer AME accepts tokens from (AME_TOKEN_ISSUERS; docs/deploy.md).

    `audience`: the `aud` every token must carry. Cognito access tokens have no `aud`: name the app
    clients in `client_ids` instead, and the token's `client_id` claim must be one of them.
    `areas_claim`: where the caller's areas are (Cognito: a custom claim added by the pre-token trigger,
    or "cognito:groups" with `area_group_prefix`, e.g. "area:" for groups named area:CREDITO_PJ).
    `audience_claim`: where `audience` is checked when not in `aud` (Cognito access tokens: a claim the
    pre-token trigger adds, as `aud` cannot be set there).
    `caller_claim`: the claim recorded as the caller (`client_id` for products; a portal's tokens may name
    the person, e.g. "username", recorded as `caller_prefix` + value).
    """

    issuer: str
    jwks: JwksCache
    audience: str | None = None
    client_ids: frozenset[str] = frozenset()
    areas_claim: str = "areas"
    area_group_prefix: str | None = None
    audience_claim: str = "aud"
    caller_claim: str = "client_id"
    caller_prefix: str = ""

    @classmethod
    def from_config(cls, issuer: str, config: Mapping[str, Any], jwks: JwksCache) -> TrustedIssuer:
        client_ids = config.get("client_ids") or []
        if isinstance(client_ids, str):
            client_ids = [client_ids]
        return cls(
            issuer=issuer,
            jwks=jwks,
            audience=config.get("audience"),
            client_ids=frozenset(str(c) for c in client_ids),
            areas_claim=str(config.get("areas_claim") or "areas"),
            area_group_prefix=config.get("area_group_prefix"),
            audience_claim=str(config.get("audience_claim") or "aud"),
            caller_claim=str(config.get("caller_claim") or "client_id"),
            caller_prefix=str(config.get("caller_prefix") or ""),
        )


def parse_trusted_issuers(raw: str | None) -> dict[str, dict[str, Any]]:
    """AME_TOKEN_ISSUERS: a JSON object {issuer: {"jwks_url": ..., "audience": ... | "client_ids": [...],
    ...}}. Raises ValueError naming what is wrong."""
    if not raw or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"AME_TOKEN_ISSUERS is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("AME_TOKEN_ISSUERS must be a JSON object {issuer: {jwks_url, audience}}")
    for issuer, config in value.items():
        if not isinstance(config, dict) or not isinstance(config.get("jwks_url"), str):
            raise ValueError(f"AME_TOKEN_ISSUERS[{issuer!r}] needs a jwks_url")
        if not config.get("audience") and not config.get("client_ids"):
            raise ValueError(f"AME_TOKEN_ISSUERS[{issuer!r}] needs an audience or client_ids")
    return value


class TokenVerifier:
    """Turns an `Authorization` header into a Caller, or raises TokenError naming what is wrong.

    The single issuer (`jwks`, `issuer`, `audience`: AME_JWKS_URL/AME_TOKEN_ISSUER) and any `trusted`
    issuers are all accepted; a token's unverified `iss` only picks which keys and rules check it.
    """

    def __init__(
        self,
        jwks: JwksCache | None,
        issuer: str | None,
        audience: str | None,
        leeway_seconds: float = 30.0,
        trusted: list[TrustedIssuer] | tuple[TrustedIssuer, ...] = (),
        clock: Callable[[], float] = time.time,
    ):
        self._leeway = leeway_seconds
        self._clock = clock
        self._verified: dict[str, tuple[Caller, float]] = {}  # token → (its caller, until when it is reused)
        self._verified_lock = threading.Lock()
        self._issuers: dict[str, TrustedIssuer] = {}
        if jwks is not None and issuer and audience:
            self._issuers[issuer] = TrustedIssuer(issuer=issuer, jwks=jwks, audience=audience)
        for entry in trusted:
            self._issuers[entry.issuer] = entry

    def verify_header(self, header: str | None) -> Caller:
        if not header:
            raise TokenError("MISSING_TOKEN", "envie o cabeçalho Authorization: Bearer <token>")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TokenError("INVALID_AUTHORIZATION_HEADER", "o cabeçalho Authorization deve ser 'Bearer <token>'")
        return self.verify(token)

    def verify(self, token: str) -> Caller:
        """The token's caller. A token verified in the last VERIFIED_REUSE_SECONDS is not decoded again (a
        portal watching an order sends the same token again and again; three decodes, PyJWT's
        character-by-character segment checks and an RSA check were the largest part of such a GET's own
        CPU under the profiler): its caller is reused until then, never past the moment a full check would
        refuse it (exp + leeway). Refusals are not remembered, and a token is kept by its exact text, so a
        reused answer is one this verifier gave for those very bytes."""
        now = self._clock()
        with self._verified_lock:
            kept = self._verified.get(token)
        if kept is not None and now < kept[1]:
            return kept[0]
        caller, expires = self._verify(token)
        until = min(now + VERIFIED_REUSE_SECONDS, expires + self._leeway)
        with self._verified_lock:
            self._verified.pop(token, None)
            while len(self._verified) >= VERIFIED_REUSE_MAX_TOKENS:
                self._verified.pop(next(iter(self._verified)))  # the oldest first
            self._verified[token] = (caller, until)
        return caller

    def _verify(self, token: str) -> tuple[Caller, float]:
        """(the caller, the token's exp) after every check."""
        if not self._issuers:
            raise TokenError("AUTH_NOT_CONFIGURED", "a verificação de tokens não está configurada")
        import jwt

        if len(token) > MAX_TOKEN_CHARS:
            raise TokenError("MALFORMED_TOKEN", "o token é grande demais")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenError("MALFORMED_TOKEN", "o token não é um JWT válido") from None
        if header.get("alg") not in ALGORITHMS:
            raise TokenError("UNSUPPORTED_ALGORITHM", "o token deve ser assinado com RS256")
        claimed = unverified.get("iss") if isinstance(unverified, dict) else None
        if not isinstance(claimed, str) or not claimed:
            raise TokenError("MISSING_CLAIM", "o token não tem a claim obrigatória iss")
        trusted = self._issuers.get(claimed)
        if trusted is None:
            raise TokenError("INVALID_ISSUER", "o token não foi emitido pelo emissor esperado")
        kid = header.get("kid")
        key = trusted.jwks.key(kid if isinstance(kid, str) else None)
        in_aud = bool(trusted.audience) and trusted.audience_claim == "aud"
        # Before PyJWT reads the dates: it would take "1764000000" or true as one. A token refused here is
        # refused whoever signed it; nothing is accepted before the signature is checked below.
        _check_claim_types(trusted, unverified)
        required = ["exp", "iss", "aud"] if in_aud else ["exp", "iss"]
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=trusted.audience if in_aud else None,
                issuer=trusted.issuer,
                leeway=self._leeway,
                options={"require": required, "verify_aud": in_aud},
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
        if trusted.audience and not in_aud:
            found = claims.get(trusted.audience_claim)
            if found != trusted.audience and not (isinstance(found, list) and trusted.audience in found):
                raise TokenError("INVALID_AUDIENCE", "o token não é destinado a esta API")
        if (trusted.client_ids or not in_aud) and claims.get("token_use", "access") != "access":
            raise TokenError("INVALID_TOKEN", "envie o token de acesso, não o token de identidade")
        if trusted.client_ids:
            if claims.get("client_id") not in trusted.client_ids:
                raise TokenError("INVALID_AUDIENCE", "o token não é destinado a esta API")
        return _caller_from_claims(_normalised_claims(trusted, claims)), float(claims["exp"])


def _invalid(detail: str) -> TokenError:
    return TokenError("INVALID_CLAIM", detail)


def _check_claim_types(trusted: TrustedIssuer, claims: Mapping[str, Any]) -> None:
    """Every claim AME reads has exactly its documented type (docs/security.md, "Token claims").

    PyJWT compares the dates after converting them with int(): a numeric string or a boolean would pass
    there, and is refused here.
    """
    for name in NUMERIC_DATE_CLAIMS:
        if name in claims and type(claims[name]) is not int:
            raise _invalid(f"a claim {name} deve ser um número inteiro (segundos desde 1970)")
    if "scope" in claims and not isinstance(claims["scope"], str):
        raise _invalid("a claim scope deve ser um texto com os escopos separados por espaço")
    areas = claims.get(trusted.areas_claim)
    if trusted.areas_claim in claims and (not isinstance(areas, list) or not all(isinstance(a, str) for a in areas)):
        raise _invalid(f"a claim {trusted.areas_claim} deve ser uma lista de códigos de área")
    if "client_id" in claims:
        client_id = claims["client_id"]
        if not isinstance(client_id, str) or not CLIENT_ID_PATTERN.fullmatch(client_id):
            raise _invalid("a claim client_id deve ter de 3 a 64 letras minúsculas, dígitos ou hífens")
    if trusted.caller_claim != "client_id" and trusted.caller_claim in claims:
        name = claims[trusted.caller_claim]
        if not isinstance(name, str) or not USER_NAME_PATTERN.fullmatch(name):
            raise _invalid(f"a claim {trusted.caller_claim} deve ter letras minúsculas, dígitos, '.', '_', '@' ou '-'")
    if "sub" in claims:
        subject = claims["sub"]
        if not isinstance(subject, str) or not 1 <= len(subject) <= _SUBJECT_MAX or not subject.isprintable():
            raise _invalid("a claim sub deve ser um texto imprimível")


def _normalised_claims(trusted: TrustedIssuer, claims: Mapping[str, Any]) -> Mapping[str, Any]:
    """The issuer's claims in AME's terms: client_id, scope, areas."""
    if trusted.areas_claim == "areas" and trusted.caller_claim == "client_id" and not trusted.caller_prefix:
        return claims
    out = dict(claims)
    areas = claims.get(trusted.areas_claim, [])
    if trusted.area_group_prefix is not None and isinstance(areas, list):
        prefix = trusted.area_group_prefix
        areas = [a[len(prefix) :] for a in areas if isinstance(a, str) and a.startswith(prefix)]
    out["areas"] = areas
    caller = claims.get(trusted.caller_claim)
    out["client_id"] = trusted.caller_prefix + caller if isinstance(caller, str) and caller else None
    return out


def _caller_from_claims(claims: Mapping[str, Any]) -> Caller:
    client_id = claims.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise TokenError("MISSING_CLAIM", "o token não tem uma claim client_id válida")
    if len(client_id) > _CLIENT_ID_MAX:
        raise _invalid(f"o chamador do token passa de {_CLIENT_ID_MAX} caracteres")
    scopes = str(claims.get("scope", "")).split()
    areas = claims.get("areas", [])
    if not isinstance(areas, list) or not all(isinstance(a, str) and AREA_CODE_PATTERN.fullmatch(a) for a in areas):
        raise _invalid("a claim areas tem um código de área inválido")
    subject = claims.get("sub")
    return Caller(
        client_id=client_id,
        scopes=frozenset(scopes),
        areas=frozenset(areas),
        subject=subject if isinstance(subject, str) else None,
    )


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
