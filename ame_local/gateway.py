"""API Gateway's own answers in the local stack (no token, unknown route) as problem documents.

chalice.local answers them with API Gateway's bare `{"message": ...}`; in AWS the template's gateway
responses turn them into problem documents, and this handler does the same locally.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from typing import Any

from chalice.local import ChaliceRequestHandler, LocalGatewayException

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def gateway_problem(status: int, raw_body: bytes | None) -> tuple[int, dict[str, Any]]:
    text = (raw_body or b"").decode("utf-8", "replace")
    if status == 401:
        return 401, {
            "code": "MISSING_TOKEN",
            "title": "Não autenticado",
            "detail": "envie o cabeçalho Authorization: Bearer <token>",
            "errors": [
                {"field": "Authorization", "code": "MISSING_TOKEN", "message": "cabeçalho Authorization ausente"}
            ],
        }
    if status == 403 and ("Missing Authentication Token" in text or "Authorization header requires" in text):
        return 404, {"code": "ROUTE_NOT_FOUND", "title": "Não encontrado", "detail": "rota inexistente"}
    if status == 403:
        return 403, {"code": "ACCESS_DENIED", "title": "Sem permissão", "detail": "acesso negado"}
    return 500, {"code": "INTERNAL_ERROR", "title": "Erro interno", "detail": "erro interno inesperado"}


class ProblemRequestHandler(ChaliceRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        # http.server writes the request line to stderr as sent: no query value or document reaches it.
        from ame_local.access_log import access_line

        sys.stderr.write(f"{self.address_string()} - - [{self.log_date_time_string()}] {access_line(format, *args)}\n")

    def _send_error_response(self, error: LocalGatewayException) -> None:
        status, body = gateway_problem(error.CODE, error.body)
        body = {
            "type": "https://ame.example/problems/" + body["code"].lower().replace("_", "-"),
            "status": status,
            **body,
        }
        given = self.headers.get("X-Request-Id")
        request_id = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        headers = {"Content-Type": "application/problem+json", "X-Request-Id": request_id}
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer error="invalid_request"'
        self._send_http_response(status, headers, json.dumps(body, ensure_ascii=False).encode())
