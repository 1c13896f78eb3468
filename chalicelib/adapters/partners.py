"""HTTP clients for the partners of docs/contracts.md §1: typed results, typed errors, batched searches."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar
from urllib.parse import quote
from urllib.request import getproxies

import requests
from pydantic import BaseModel, ConfigDict, ValidationError
from requests.adapters import HTTPAdapter

from chalicelib.domain.partners import (
    AreaSettings,
    CompanyPowers,
    DomainValues,
    Operator,
    Person,
)
from chalicelib.domain.text import SEGMENT_PATTERN
from chalicelib.observability import partner_call

# The error types belong to the services' ports; they are re-exported here for the clients' callers.
from chalicelib.services.ports import PartnerError, PartnerRejected, PartnerUnavailable  # noqa: F401

#: Pessoas and Cadastro Único accept at most this many CPFs per search (docs/contracts.md §1).
MAX_CPFS_PER_CALL = 100

_M = TypeVar("_M", bound=BaseModel)


def build_session(pool_size: int = 20) -> requests.Session:
    """A session with a connection pool sized for parallel calls; retries belong to the caller."""
    session = requests.Session()
    # With trust_env, requests scans the whole environment for proxy settings and looks for a .netrc
    # file on every call (~0.5 ms each). Without proxy settings (Lambda's default) there is nothing to
    # find; with them, requests keeps honouring them per call (HTTPS_PROXY and NO_PROXY alike).
    session.trust_env = bool(getproxies())
    # max_retries=0: retries are decided by the workflow (transient vs permanent), not hidden here.
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


_SEGMENT = re.compile(SEGMENT_PATTERN)


def _segment(value: str, partner: str) -> str:
    """One path segment of a partner URL: a code of SEGMENT_PATTERN only (never "..", "/", "?", "%").
    Requests validate theirs before this; codes that come from partners (an area's power codes) meet it
    here, and a partner URL is never walked."""
    text = str(value)
    if not _SEGMENT.match(text):
        raise PartnerRejected(partner, "a path segment breaks the code pattern; not sent")
    return quote(text, safe="")


def _dedupe(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _batches(values: list[str], size: int = MAX_CPFS_PER_CALL) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _PeopleAnswer(_Envelope):
    people: list[Person]


class _OperatorsAnswer(_Envelope):
    operators: list[Operator]


class _PartnerClient:
    """Shared plumbing: one base URL, one timeout, one pooled session, one error mapping."""

    partner: str = "partner"

    def __init__(
        self,
        base_url: str,
        timeout: float = 3.0,
        session: requests.Session | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session if session is not None else build_session()

    def _send(self, method: str, path: str, body: Any | None = None) -> requests.Response:
        with partner_call(self.partner, method):
            return self._send_untraced(method, path, body)

    def _send_untraced(self, method: str, path: str, body: Any | None) -> requests.Response:
        url = f"{self.base_url}{path}"
        try:
            response = self.session.request(method, url, json=body, timeout=self.timeout, allow_redirects=False)
        except requests.exceptions.Timeout as exc:
            raise PartnerUnavailable(self.partner, f"timed out after {self.timeout}s") from exc
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            raise PartnerUnavailable(self.partner, f"connection failed: {type(exc).__name__}") from exc
        except requests.exceptions.RequestException as exc:
            # Invalid URL, schema and the like: configuration, not weather — retrying cannot help.
            raise PartnerRejected(self.partner, f"request could not be made: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise PartnerUnavailable(self.partner, "server error", response.status_code)
        return response

    def _reject_unless_2xx(self, response: requests.Response) -> None:
        if not 200 <= response.status_code < 300:
            raise PartnerRejected(self.partner, "request rejected", response.status_code)

    def _parse(self, response: requests.Response, model: type[_M]) -> _M:
        try:
            return model.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            # requests' JSONDecodeError is a ValueError; a broken body will not mend on retry.
            raise PartnerRejected(
                self.partner, f"malformed answer: {type(exc).__name__}", response.status_code
            ) from exc

    def _get_or_none(self, path: str, model: type[_M]) -> _M | None:
        response = self._send("GET", path)
        if response.status_code == 404:
            return None
        self._reject_unless_2xx(response)
        return self._parse(response, model)

    def _post(self, path: str, body: Any, model: type[_M]) -> _M:
        response = self._send("POST", path, body)
        self._reject_unless_2xx(response)
        return self._parse(response, model)


class ParametrizadorClient(_PartnerClient):
    """Area settings: GET /v1/areas/{area_code}."""

    partner = "parametrizador"

    def get_area(self, area_code: str) -> AreaSettings | None:
        return self._get_or_none(f"/v1/areas/{_segment(area_code, self.partner)}", AreaSettings)


class DominiosClient(_PartnerClient):
    """Domain values: GET /v1/domains/{domain_name}."""

    partner = "dominios"

    def get_domain(self, name: str) -> DomainValues | None:
        return self._get_or_none(f"/v1/domains/{_segment(name, self.partner)}", DomainValues)


class PoderesClient(_PartnerClient):
    """Representatives and signing rules: GET /v1/companies/{cnpj}/powers/{power_code}."""

    partner = "poderes"

    def get_powers(self, cnpj: str, power_code: str) -> CompanyPowers | None:
        """None when Poderes answers 404: the company has no representatives for that power."""
        path = f"/v1/companies/{_segment(cnpj, self.partner)}/powers/{_segment(power_code, self.partner)}"
        return self._get_or_none(path, CompanyPowers)


class PessoasClient(_PartnerClient):
    """People's data: POST /v1/people/search, in batches of at most 100 CPFs."""

    partner = "pessoas"

    def search(self, cpfs: list[str]) -> list[Person]:
        found: list[Person] = []
        for batch in _batches(_dedupe(cpfs)):
            answer = self._post("/v1/people/search", {"cpfs": batch}, _PeopleAnswer)
            found.extend(answer.people)
        return found


class CadastroClient(_PartnerClient):
    """Operators and account access: POST /v1/companies/{cnpj}/operators/search, batched."""

    partner = "cadastro"

    def search(self, cnpj: str, platform: str, cpfs: list[str]) -> list[Operator]:
        path = f"/v1/companies/{_segment(cnpj, self.partner)}/operators/search"
        found: list[Operator] = []
        for batch in _batches(_dedupe(cpfs)):
            answer = self._post(path, {"platform": platform, "cpfs": batch}, _OperatorsAnswer)
            found.extend(answer.operators)
        return found


class NotificacaoClient(_PartnerClient):
    """Messages to people: POST /v1/notifications, idempotent by notification_id."""

    partner = "notificacao"

    def send(
        self,
        notification_id: str,
        channel: str,
        recipient: str,
        template: str,
        variables: dict[str, Any],
    ) -> bool:
        """True when the partner accepted a new notification; False when it had already sent it."""
        body = {
            "notification_id": notification_id,
            "channel": channel,
            "recipient": recipient,
            "template": template,
            "variables": variables,
        }
        response = self._send("POST", "/v1/notifications", body)
        self._reject_unless_2xx(response)
        return response.status_code != 200


# The scheduled health probe (chalicelib/services/recovery.py): one cheap documented call per partner
# (docs/contracts.md §1), about a company and a person that exist nowhere. Any answer but a transient
# failure (5xx, timeout, connection error, open breaker) says the partner is up: Poderes' 404, empty
# searches, even a 4xx.
PROBE_CNPJ = "00000000000191"
PROBE_CPF = "00000000191"
PROBE_POWER = "AME_HEALTH_PROBE"
PROBE_PLATFORM = "AME_HEALTH_PROBE"


def health_probes(powers: Any, people: Any, operators: Any) -> dict[str, Callable[[], object]]:
    """{partner: a call that raises PartnerUnavailable while the partner is down}."""
    return {
        "poderes": lambda: powers.get_powers(PROBE_CNPJ, PROBE_POWER),
        "pessoas": lambda: people.search([PROBE_CPF]),
        "cadastro": lambda: operators.search(PROBE_CNPJ, PROBE_PLATFORM, [PROBE_CPF]),
    }
