"""Webhook destinations an area's editor cannot aim at AME's network: every URL of the abuse review is
refused, the connection goes to the address that was checked, and readers see only a sanitized outcome."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading

import pytest

from chalicelib.adapters.webhook_destination import DestinationRefused, checked_url
from chalicelib.adapters.webhooks import WebhookSender
from chalicelib.services.delivery import RetryLater, webhook_secret_ref
from tests.unit.test_delivery_service import HOOK, Orders, Webhooks, event, service

SECRET = "whsec_" + base64.b64encode(b"area-secret-of-credito-pj-32bytes").decode()
PUBLIC = "93.184.216.34"


def public_dns(host: str, port: int) -> list[str]:
    """Every name resolves to a public address: what is refused below is refused by the URL rules."""
    return [PUBLIC]


class Secrets:
    def get(self, secret_ref: str) -> str:
        return SECRET


# The URLs the review reached the metadata service, the database, Redis and loopback with.
REVIEW_URLS = [
    "https://127.0.0.1/hooks",
    "https://localhost/hooks",
    "https://169.254.169.254/latest/meta-data/",
    "https://169.254.170.2/v2/credentials",
    "https://[::1]/hooks",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://10.0.0.5:6379/",
    "https://2130706433/hooks",
    "https://0x7f.1/hooks",
    "https://user:pw@product.example/hooks",
]
MORE_URLS = [
    "https://0177.0.0.1/hooks",  # octal
    "https://127.1/hooks",  # short IPv4
    "https://0x7f000001/hooks",  # one hex number
    "https://[::ffff:127.0.0.1]/hooks",  # IPv4-mapped loopback
    "https://[::ffff:a9fe:a9fe]/hooks",  # IPv4-mapped metadata
    "https://[64:ff9b::a9fe:a9fe]/hooks",  # NAT64 metadata
    "https://192.168.1.10/hooks",
    "https://172.16.0.1/hooks",
    "https://100.64.0.1/hooks",  # carrier-grade NAT
    "https://[fe80::1]/hooks",  # link-local
    "https://169.254.1.1/hooks",
    "https://[fc00::1]/hooks",  # unique-local
    "https://224.0.0.251/hooks",  # multicast
    "https://[ff02::1]/hooks",
    "https://0.0.0.0/hooks",
    "https://user@product.example/hooks",
    "https://:pw@product.example/hooks",
    "http://product.example/hooks",  # http outside the local stack
    "ftp://product.example/hooks",
    "file:///etc/passwd",
    "https:///hooks",
    "https://product.example:0/hooks",
    "https://product.example:99999/hooks",
    "https://prod\u0443ct.example/hooks",  # a Cyrillic letter in the name
    "https://product.example/hooks\r\nX-Injected: 1",
    "https://product.example/hooks#frag",
]


@pytest.mark.parametrize("url", REVIEW_URLS + MORE_URLS)
def test_the_url_is_refused(url):
    with pytest.raises(DestinationRefused):
        checked_url(url, resolve=public_dns)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://169.254.170.2/v2/credentials",
        "http://user:pw@127.0.0.1:9100/hooks",
        "http://2130706433:9100/hooks",
        "http://10.0.0.5:6379/",
    ],
)
def test_the_local_stack_allows_loopback_but_never_metadata_private_credentials_or_numeric_hosts(url):
    with pytest.raises(DestinationRefused):
        checked_url(url, allow_local=True, resolve=public_dns)


def test_the_local_stack_allows_http_to_loopback():
    assert checked_url("http://127.0.0.1:9100/hooks/credito-pj", allow_local=True).ip == "127.0.0.1"
    assert checked_url("http://localhost:9100/h", allow_local=True, resolve=lambda h, p: ["::1"]).ip == "::1"


def test_a_public_https_url_is_pinned_to_the_address_it_resolved_to():
    destination = checked_url("https://Product.Example:8443/hooks/ame?x=1", resolve=public_dns)
    assert (destination.host, destination.ip, destination.port, destination.path) == (
        "product.example",
        PUBLIC,
        8443,
        "/hooks/ame?x=1",
    )
    assert destination.host_header == "product.example:8443"


def test_a_name_with_any_private_address_among_its_answers_is_refused():
    # DNS rebinding's other half: a public first answer does not carry a private second one through.
    with pytest.raises(DestinationRefused, match="loopback"):
        checked_url("https://rebind.example/hooks", resolve=lambda h, p: [PUBLIC, "127.0.0.1"])


def test_a_name_that_does_not_resolve_is_refused():
    def nxdomain(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(DestinationRefused, match="não resolvido"):
        checked_url("https://gone.example/hooks", resolve=nxdomain)


class Product:
    """A bare HTTP/1.1 endpoint on loopback that records each request's head."""

    def __init__(self):
        self.heads: list[bytes] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as stream:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = stream.readline()
                    if not line:
                        break
                    head += line
                length = next(
                    (int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), 0
                )
                stream.read(length)
                self.heads.append(head)
                conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")

    def stop(self):
        self._server.close()


def test_the_post_goes_to_the_checked_address_with_the_name_in_the_host_header():
    looked_up: list[str] = []

    def resolver(host, port):
        looked_up.append(host)
        return ["127.0.0.1"]

    product = Product()
    try:
        sender = WebhookSender(Secrets(), allow_local=True, resolve=resolver)
        # product.invalid does not exist in any DNS: only the checked address can have been reached.
        attempt = sender.send(
            f"http://product.invalid:{product.port}/hooks/ame", "ame/webhooks/CREDITO_PJ", "evt_01J", b"{}"
        )
    finally:
        product.stop()
    assert attempt.delivered and looked_up == ["product.invalid"]
    [head] = product.heads
    assert head.startswith(b"POST /hooks/ame HTTP/1.1")
    assert f"host: product.invalid:{product.port}".encode() in head.lower()


def test_a_refused_destination_reads_destino_recusado_and_the_reason_goes_to_the_log(caplog):
    sender = WebhookSender(Secrets(), resolve=public_dns)
    with caplog.at_level(logging.WARNING, logger="chalicelib.adapters.webhooks"):
        attempt = sender.send("https://169.254.169.254/latest/meta-data/", "ame/webhooks/CREDITO_PJ", "e", b"{}")
    assert (attempt.delivered, attempt.status, attempt.error) == (False, None, "destino recusado")
    assert any(getattr(r, "detail", "") == "endereço de metadados da nuvem" for r in caplog.records)


def test_a_closed_port_reads_conexao_recusada_without_the_address():
    spare = socket.create_server(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()
    attempt = WebhookSender(Secrets(), allow_local=True).send(f"http://127.0.0.1:{port}/h", "r", "e", b"{}")
    assert (attempt.delivered, attempt.error) == (False, "conexão recusada")
    assert str(port) not in attempt.error


def test_the_area_may_only_sign_with_its_own_secret():
    assert webhook_secret_ref("CREDITO_PJ") == "ame/webhooks/CREDITO_PJ"
    s = service(orders=Orders(webhook={**HOOK, "secret_ref": "ame/webhooks/CONSIGNADO"}), webhooks=Webhooks())
    with pytest.raises(RetryLater) as retry:
        s.service.deliver(event("ORDER_NO_QUORUM"))
    assert s.webhooks.calls == []
    assert retry.value.reasons == ["WEBHOOK: secret_ref do webhook deve ser ame/webhooks/CREDITO_PJ"]


def test_the_area_own_secret_ref_is_sent():
    s = service(webhooks=Webhooks())
    s.service.deliver(event("ORDER_NO_QUORUM"))
    assert [json.loads(body)["event_id"] for _, _, body in s.webhooks.calls] == ["evt_01JDELIVERY0000000000000AB"]
