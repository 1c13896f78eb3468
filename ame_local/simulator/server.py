"""The partner simulator: every partner of docs/contracts.md §1 behind one loopback URL, with faults and counters."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ame_local.simulator.data import SeedData, load_seed
from ame_local.simulator.faults import (
    DEFAULT_TIMEOUT_SLEEP_MS,
    PARTNERS,
    Fault,
    FaultInjector,
    check_partner,
    parse_faults,
)

logger = logging.getLogger("ame_local.simulator")

#: The real Pessoas and Cadastro Único refuse bigger searches (docs/contracts.md §1).
MAX_CPFS_PER_SEARCH = 100
MAX_BODY_BYTES = 1024 * 1024
CHANNELS = frozenset({"EMAIL", "SMS"})


class BadRequest(Exception):
    """The request breaks the partner's contract: answered 400 with a problem document."""


def _match(template: str, path: str) -> dict[str, str] | None:
    wanted = template.strip("/").split("/")
    given = path.strip("/").split("/")
    if len(wanted) != len(given):
        return None
    captured: dict[str, str] = {}
    for expected, actual in zip(wanted, given):
        if expected.startswith("{"):
            if not actual:
                return None
            captured[expected[1:-1]] = unquote(actual)
        elif expected != actual:
            return None
    return captured


def _problem(status: int, title: str, detail: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    return body


def _cpf_list(body: Any) -> list[str]:
    if not isinstance(body, dict):
        raise BadRequest("o corpo deve ser um objeto JSON")
    cpfs = body.get("cpfs")
    if not isinstance(cpfs, list) or not all(isinstance(c, str) for c in cpfs):
        raise BadRequest("cpfs deve ser uma lista de textos")
    if len(cpfs) > MAX_CPFS_PER_SEARCH:
        raise BadRequest(f"no máximo {MAX_CPFS_PER_SEARCH} CPFs por consulta")
    return list(dict.fromkeys(cpfs))


class Simulator:
    """A running simulator. Built by start_simulator(); stop() it (or use it as a context manager)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed_dir: str | Path | None = None,
        faults: Mapping[str, Any] | None = None,
        fault_seed: int | str = 0,
    ) -> None:
        self.seed: SeedData = load_seed(seed_dir)
        self._faults = FaultInjector(fault_seed)
        for partner, fault in parse_faults(faults).items():
            self._faults.set(partner, fault)
        self._lock = threading.Lock()
        self._counters = {p: 0 for p in PARTNERS}
        # Requests per partner per wall-clock second, for the peak rate a recovering partner receives.
        self._per_second: dict[str, dict[int, int]] = {p: {} for p in PARTNERS}
        self._notifications: list[dict[str, Any]] = []
        self._notification_ids: set[str] = set()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server = _Server((host, port), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="partner-simulator",
            daemon=True,
        )

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self._server.server_address[0]

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Simulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake calls sleeping on a fault, and cut kept-alive connections."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        # Without this a pooled keep-alive connection would still be answered after stop().
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- controls --------------------------------------------------------------------------------
    def set_faults(
        self,
        partner: str,
        latency_ms: float = 0,
        error_rate: float = 0.0,
        timeout_rate: float = 0.0,
        down: bool = False,
        timeout_sleep_ms: float = DEFAULT_TIMEOUT_SLEEP_MS,
    ) -> None:
        """Replace the faults of one partner (all settings at once; defaults mean healthy)."""
        fault = Fault(float(latency_ms), float(error_rate), float(timeout_rate), down, float(timeout_sleep_ms))
        self._faults.set(check_partner(partner), fault)

    def apply_faults(self, faults: Mapping[str, Any]) -> None:
        """Set several partners at once from {partner: {settings}}; all validated before any applies."""
        for partner, fault in parse_faults(faults).items():
            self._faults.set(partner, fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    def faults(self) -> dict[str, dict[str, Any]]:
        return self._faults.snapshot()

    def reseed(self, seed: int | str) -> None:
        """Restart the fault dice: the same seed and the same calls give the same failures."""
        self._faults.reseed(seed)

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    def reset_counters(self) -> None:
        with self._lock:
            self._counters = {p: 0 for p in PARTNERS}
            self._per_second = {p: {} for p in PARTNERS}

    def peak_rates(self) -> dict[str, dict[str, int]]:
        """Per partner, the most requests received within one wall-clock second since the last reset:
        {"peak_per_second", "at" (that second, epoch)}; 0 when it received none."""
        with self._lock:
            seconds = {p: dict(c) for p, c in self._per_second.items()}
        peaks = {}
        for partner, counts in seconds.items():
            at, peak = max(counts.items(), key=lambda item: (item[1], -item[0]), default=(0, 0))
            peaks[partner] = {"peak_per_second": peak, "at": at}
        return peaks

    def notifications(self) -> list[dict[str, Any]]:
        """Notifications accepted (202), in arrival order; repeats are not recorded again."""
        with self._lock:
            return [json.loads(json.dumps(n)) for n in self._notifications]

    def reset_notifications(self) -> None:
        """Forget accepted notifications, and with them which ids were already sent."""
        with self._lock:
            self._notifications.clear()
            self._notification_ids.clear()

    def reset(self) -> None:
        self.clear_faults()
        self.reset_counters()
        self.reset_notifications()

    # -- used by the handler ---------------------------------------------------------------------
    def _count(self, partner: str) -> None:
        second = int(time.time())
        with self._lock:
            self._counters[partner] += 1
            counts = self._per_second[partner]
            counts[second] = counts.get(second, 0) + 1
            if len(counts) > 3600:  # an hour of seconds is plenty; drop the oldest
                del counts[min(counts)]

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; True when the simulator was stopped meanwhile."""
        if seconds > 0:
            return self._stopping.wait(seconds)
        return self._stopping.is_set()

    # -- partners (each returns status, body) ----------------------------------------------------
    def _get_area(self, area_code: str, body: Any) -> tuple[int, Any]:
        area = self.seed.areas.get(area_code)
        if area is None:
            return 404, _problem(404, "Área não encontrada", f"área {area_code} não existe")
        return 200, area

    def _get_domain(self, domain_name: str, body: Any) -> tuple[int, Any]:
        domain = self.seed.domains.get(domain_name)
        if domain is None:
            return 404, _problem(404, "Domínio não encontrado", f"domínio {domain_name} não existe")
        return 200, domain

    def _get_powers(self, cnpj: str, power_code: str, body: Any) -> tuple[int, Any]:
        powers = self.seed.powers.get((cnpj, power_code))
        if powers is None:
            return 404, _problem(404, "Sem poderes cadastrados", f"nenhum representante para {power_code}")
        return 200, powers

    def _search_people(self, body: Any) -> tuple[int, Any]:
        cpfs = _cpf_list(body)
        return 200, {"people": [self.seed.people[c] for c in cpfs if c in self.seed.people]}

    def _search_operators(self, cnpj: str, body: Any) -> tuple[int, Any]:
        cpfs = _cpf_list(body)
        platform = body.get("platform")
        if not isinstance(platform, str) or not platform:
            raise BadRequest("platform é obrigatório")
        known = self.seed.operators.get((cnpj, platform), {})
        return 200, {"operators": [known[c] for c in cpfs if c in known]}

    def _send_notification(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise BadRequest("o corpo deve ser um objeto JSON")
        for name in ("notification_id", "recipient", "template"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise BadRequest(f"{name} é obrigatório")
        if body.get("channel") not in CHANNELS:
            raise BadRequest("channel deve ser EMAIL ou SMS")
        if not isinstance(body.get("variables", {}), dict):
            raise BadRequest("variables deve ser um objeto")
        notification_id = body["notification_id"]
        with self._lock:
            if notification_id in self._notification_ids:
                return 200, {"notification_id": notification_id, "status": "ALREADY_SENT"}
            self._notification_ids.add(notification_id)
            self._notifications.append(body)
        return 202, {"notification_id": notification_id, "status": "ACCEPTED"}


# (method, path template, partner, the Simulator method that answers). "{name}" segments are captured,
# unquoted, and passed to that method in order, followed by the JSON body (None for a GET).
_ROUTES: tuple[tuple[str, str, str, Callable[..., tuple[int, Any]]], ...] = (
    ("GET", "/v1/areas/{area_code}", "parametrizador", Simulator._get_area),
    ("GET", "/v1/domains/{domain_name}", "dominios", Simulator._get_domain),
    ("GET", "/v1/companies/{cnpj}/powers/{power_code}", "poderes", Simulator._get_powers),
    ("POST", "/v1/people/search", "pessoas", Simulator._search_people),
    ("POST", "/v1/companies/{cnpj}/operators/search", "cadastro", Simulator._search_operators),
    ("POST", "/v1/notifications", "notificacao", Simulator._send_notification),
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, simulator: Simulator) -> None:
        self.simulator = simulator
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is the expected end of a timeout fault, not an error.
        if isinstance(sys.exc_info()[1], OSError):
            return
        logger.exception("partner simulator failed on a request from %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps the clients' pooled connections alive, as a real partner would.
    protocol_version = "HTTP/1.1"
    server_version = "AME-PartnerSimulator/1.0"
    timeout = 120  # drop idle keep-alive connections eventually
    # Headers and body are separate small writes; with Nagle on, delayed ACKs add ~40 ms per call.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.simulator._track(self.connection, alive=True)

    def parse_request(self) -> bool:
        # The request line has just arrived: a partner's latency counts from here, so the time this
        # handler spends reading headers and routing is part of it, not added to it.
        self._arrived = time.perf_counter()
        return super().parse_request()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.simulator._track(self.connection, alive=False)

    def log_message(self, format: str, *args: Any) -> None:
        from ame_local.access_log import access_line

        logger.debug("%s - %s", self.address_string(), access_line(format, *args))

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    # -- plumbing --------------------------------------------------------------------------------
    def _send_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        problem = isinstance(body, dict) and "title" in body and status >= 400
        self.send_response(status)
        self.send_header("Content-Type", "application/problem+json" if problem else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def _read_body(self) -> bytes | None:
        """The raw body, or None after answering 413/400 for a body we will not read."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            status = 413 if length > MAX_BODY_BYTES else 400
            self._send_json(status, _problem(status, HTTPStatus(status).phrase))
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        raw = self._read_body()
        if raw is None:
            return
        if path.startswith("/_admin/"):
            self._admin(method, path, raw)
            return
        matches = [(route, params) for route in _ROUTES if (params := _match(route[1], path)) is not None]
        if not matches:
            self._send_json(404, _problem(404, "Not Found", f"nenhum parceiro atende {path}"))
            return
        simulator = self.server.simulator
        simulator._count(matches[0][0][2])
        chosen = next(((r, p) for r, p in matches if r[0] == method), None)
        if chosen is None:
            allowed = ", ".join(r[0] for r, _ in matches)
            self._send_json(405, _problem(405, "Method Not Allowed"), {"Allow": allowed})
            return
        (_, _, partner, answer), params = chosen
        if self._inject_faults(partner):
            return
        self._answer(partial(answer, simulator), params, raw, method)

    def _inject_faults(self, partner: str) -> bool:
        """Apply the partner's faults; True when the call was answered (or abandoned) here."""
        simulator = self.server.simulator
        verdict = simulator._faults.decide(partner)
        latency_left = verdict.latency_s - (time.perf_counter() - self._arrived) if verdict.latency_s else 0.0
        if simulator._sleep(latency_left):
            self.close_connection = True
            return True
        if verdict.outcome in ("down", "error"):
            title = "Parceiro fora do ar" if verdict.outcome == "down" else "Falha simulada"
            self._send_json(
                503, _problem(503, title, f"{partner}: falha injetada pelo simulador"), {"Retry-After": "1"}
            )
            return True
        if verdict.outcome == "timeout" and simulator._sleep(verdict.timeout_sleep_s):
            self.close_connection = True
            return True
        # After a timeout sleep the call is still served: like a real partner that acted on a
        # request its caller had already given up on (a retried notification then answers 200).
        return False

    def _answer(self, handler: Callable[..., tuple[int, Any]], params: dict[str, str], raw: bytes, method: str) -> None:
        body: Any = None
        if method == "POST":
            try:
                body = json.loads(raw.decode("utf-8")) if raw else None
            except (UnicodeDecodeError, ValueError):
                self._send_json(400, _problem(400, "Bad Request", "corpo não é JSON válido"))
                return
        try:
            status, answer = handler(*params.values(), body)
        except BadRequest as exc:
            status, answer = 400, _problem(400, "Bad Request", str(exc))
        self._send_json(status, answer)

    # -- admin -----------------------------------------------------------------------------------
    def _admin(self, method: str, path: str, raw: bytes) -> None:
        simulator = self.server.simulator
        route = (method, path.rstrip("/"))
        try:
            if route == ("GET", "/_admin/health"):
                self._send_json(200, {"status": "ok", "partners": list(PARTNERS)})
            elif route == ("GET", "/_admin/counters"):
                self._send_json(200, simulator.counters())
            elif route == ("GET", "/_admin/rates"):
                self._send_json(200, simulator.peak_rates())
            elif route == ("POST", "/_admin/counters/reset"):
                simulator.reset_counters()
                self._send_json(200, simulator.counters())
            elif route == ("GET", "/_admin/faults"):
                self._send_json(200, simulator.faults())
            elif route == ("POST", "/_admin/faults"):
                simulator.apply_faults(json.loads(raw.decode("utf-8") or "{}"))
                self._send_json(200, simulator.faults())
            elif route == ("POST", "/_admin/faults/reset"):
                simulator.clear_faults()
                self._send_json(200, simulator.faults())
            elif route == ("GET", "/_admin/notifications"):
                self._send_json(200, {"notifications": simulator.notifications()})
            elif route == ("POST", "/_admin/notifications/reset"):
                simulator.reset_notifications()
                self._send_json(200, {"notifications": []})
            elif route == ("POST", "/_admin/reset"):
                simulator.reset()
                self._send_json(200, {"status": "ok"})
            else:
                self._send_json(404, _problem(404, "Not Found", f"{method} {path} não existe"))
        except (UnicodeDecodeError, ValueError) as exc:
            self._send_json(400, _problem(400, "Bad Request", str(exc)))


def start_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    seed_dir: str | Path | None = None,
    faults: Mapping[str, Any] | None = None,
    fault_seed: int | str = 0,
) -> Simulator:
    """Start serving on a daemon thread (port 0 picks a free port) and return the running Simulator.

    faults: {partner: {latency_ms, error_rate, timeout_rate, down, timeout_sleep_ms}} applied at start.
    fault_seed: seeds the dice of error_rate/timeout_rate, so a run is reproducible.
    """
    return Simulator(host, port, seed_dir, faults, fault_seed).start()
