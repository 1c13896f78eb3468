"""The local stack's HTTP access log keeps parameter names, never their values or personal data."""

from __future__ import annotations

from ame_local.access_log import access_line, redact_query_values
from ame_local.gateway import ProblemRequestHandler

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJjbGllbnRfaWQiOiJwb3J0YWwifQ.c2lnbmF0dXJl"
LINE = f"GET /v1/orders?access_token={TOKEN}&guarantor_document=529.982.247-25&status=NO_QUORUM HTTP/1.1"


def test_query_values_are_redacted_and_names_kept():
    assert redact_query_values(LINE) == ("GET /v1/orders?access_token=***&guarantor_document=***&status=*** HTTP/1.1")


def test_personal_data_in_a_path_is_masked():
    line = access_line('"%s" %s %s', "GET /v1/companies/11222333000181/powers/ASSINAR_CCB HTTP/1.1", "200", "-")
    assert "11222333000181" not in line and "/powers/ASSINAR_CCB" in line


def test_the_api_handler_writes_the_redacted_line(capsys):
    handler = ProblemRequestHandler.__new__(ProblemRequestHandler)  # no socket: only its log_message
    handler.client_address = ("127.0.0.1", 50000)
    handler.requestline = LINE
    handler.log_request(200)
    err = capsys.readouterr().err
    assert '"GET /v1/orders?access_token=***&guarantor_document=***&status=*** HTTP/1.1" 200' in err
    assert TOKEN not in err and "529.982.247-25" not in err
