"""API Gateway's own answers in the local stack, as the packaged gateway gives them.

chalice.local answers an unknown path with API Gateway's bare `{"message": ...}` 403, a known path with
another method with Chalice's own 405 JSON (or, for a method http.server has no handler for, such as
TRACE, a 501 HTML page), and OPTIONS on a path without CORS with a 200. In AWS the template's gateway
responses and the ANY method on every resource (infra/template/api.py) answer them with problem
documents; this handler gives the same status, headers and document, from the same builders
(chalicelib/entrypoints/problems.py).
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from typing import Any

from chalice.local import ChaliceRequestHandler, LocalGatewayException, RouteMatcher

from chalicelib.entrypoints.problems import (
    MISSING_TOKEN_CHALLENGE,
    PROBLEM_JSON,
    allowed_methods,
    method_not_allowed_document,
    missing_token_document,
    problem_document,
    route_not_found_document,
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def gateway_problem(status: int, raw_body: bytes | None) -> dict[str, Any]:
    """The problem document API Gateway gives for chalice.local's error `status` (and its bare body)."""
    text = (raw_body or b"").decode("utf-8", "replace")
    if status == 401:
        return missing_token_document()
    if status == 403 and ("Missing Authentication Token" in text or "Authorization header requires" in text):
        return route_not_found_document()
    if status == 403:
        return problem_document(403, "ACCESS_DENIED", "acesso negado")
    return problem_document(500, "INTERNAL_ERROR", "erro interno inesperado")


class RouteMethods:
    """Which methods each path of a Chalice app answers, matched like chalice.local matches routes."""

    def __init__(self, app: Any) -> None:
        self._routes = app.routes
        self._matcher = RouteMatcher(list(app.routes))

    def allowed(self, target: str) -> list[str] | None:
        """The methods of the route `target` (path and query) matches; None for no route."""
        try:
            route = self._matcher.match_route(target).route
        except ValueError:
            return None
        return allowed_methods(self._routes[route])


class ProblemRequestHandler(ChaliceRequestHandler):
    route_methods: RouteMethods | None = None  # set per server by `for_app`

    @classmethod
    def for_app(cls, app: Any) -> type[ProblemRequestHandler]:
        return type(cls.__name__, (cls,), {"route_methods": RouteMethods(app)})

    def log_message(self, format: str, *args: Any) -> None:
        # http.server writes the request line to stderr as sent: no query value or document reaches it.
        from ame_local.access_log import access_line

        sys.stderr.write(f"{self.address_string()} - - [{self.log_date_time_string()}] {access_line(format, *args)}\n")

    def __getattr__(self, name: str) -> Any:
        # http.server answers 501 to any method without a do_<METHOD>; API Gateway routes every method.
        if name.startswith("do_") and name[3:].isalpha():
            return self._generic_handle
        raise AttributeError(name)

    def _generic_handle(self) -> None:
        allowed = self.route_methods.allowed(self.path) if self.route_methods is not None else None
        if allowed is not None and self.command.upper() not in allowed:
            length = int(self.headers.get("content-length") or 0)
            if length > 0:
                self.rfile.read(length)  # keep the connection usable
            self._send_problem(method_not_allowed_document(), {"Allow": ", ".join(allowed)})
            return
        super()._generic_handle()

    def _send_error_response(self, error: LocalGatewayException) -> None:
        body = gateway_problem(error.CODE, error.body)
        headers = {"WWW-Authenticate": MISSING_TOKEN_CHALLENGE} if body["status"] == 401 else {}
        self._send_problem(body, headers)

    def _send_problem(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        given = self.headers.get("X-Request-Id")
        request_id = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        all_headers = {"Content-Type": PROBLEM_JSON, "X-Request-Id": request_id, **headers}
        payload = b"" if self.command == "HEAD" else json.dumps(body, ensure_ascii=False).encode()
        self._send_http_response(body["status"], all_headers, payload)
