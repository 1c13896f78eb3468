"""Where a webhook may go: a product's URL checked, resolved once, and pinned to the address that passed.

The URL comes from Parametrizador, so whoever edits an area's settings chooses where AME connects from
inside its VPC. `checked_url` refuses what would turn the webhook into a way into AME's network or a
blind port scanner: anything but https (http only for the local stack), credentials in the URL, numeric
host spellings that resolvers read as addresses (`2130706433`, `0x7f.1`, `0177.0.0.1`), and any name that
resolves to a loopback, private, link-local, unique-local, multicast, reserved or cloud metadata address.
Every address the name resolves to must pass, and the caller connects to the checked one (no second DNS
look-up), so a name that answers a public address first and 127.0.0.1 next (DNS rebinding) gets nowhere.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

# Instance and task metadata endpoints (EC2 IMDS over IPv4 and IPv6, ECS/Lambda task credentials):
# refused even where loopback is allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "169.254.170.23", "fd00:ec2::254", "fd00:ec2::23")
)

# A host name as DNS spells it: letters, digits and hyphens in dot-separated labels.
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$")
# The WHATWG URL standard's "ends in a number": a last label that is decimal, octal or hex makes the whole
# host an IPv4 address in browsers and in inet_aton (2130706433, 0x7f.1, 127.1, 0177.0.0.1).
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain"})

Resolver = Callable[[str, int], Sequence[str]]


class DestinationRefused(ValueError):
    """A webhook URL AME will not call. `reason` is for the logs; readers of the order see only
    "destino recusado"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Destination:
    """A checked webhook target: connect to `ip`:`port`, and speak to `host` (Host header, TLS SNI and
    certificate name)."""

    scheme: str
    host: str
    ip: str
    port: int
    path: str  # path and query, as sent in the request line

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (A and AAAA), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_local: bool) -> str | None:
    """Why AME will not connect to `ip`, or None when it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "endereço IPv6 com zona"
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:  # ::ffff:127.0.0.1 and friends reach the IPv4 address inside
            return address_refusal(embedded, allow_local) or None
        if ip in ipaddress.ip_network("64:ff9b::/96"):  # NAT64 well-known prefix
            return address_refusal(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), allow_local)
    if ip in METADATA_ADDRESSES:
        return "endereço de metadados da nuvem"
    if ip.is_loopback:
        return None if allow_local else "endereço de loopback"
    if ip.is_multicast:
        return "endereço multicast"
    if ip.is_unspecified:
        return "endereço não especificado"
    if ip.is_link_local:
        return "endereço link-local"
    if isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.ip_network("fc00::/7"):
        return "endereço unique-local"
    if ip.is_private:
        return "endereço de rede privada"
    if ip.is_reserved or not ip.is_global:
        return "endereço reservado ou não roteável"
    return None


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def checked_url(url: str, allow_local: bool = False, resolve: Resolver = system_resolver) -> Destination:
    """The Destination of a webhook URL, or DestinationRefused saying why not.

    allow_local (the local stack only): http as well as https, and loopback addresses (127.0.0.0/8, ::1,
    localhost). Metadata addresses, credentials and numeric host spellings stay refused even then.
    `resolve` is the one DNS look-up; tests pass their own.
    """
    if not isinstance(url, str) or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise DestinationRefused("URL com espaços ou caracteres de controle")
    try:
        parts = urlsplit(url)
        port_given = parts.port
    except ValueError:
        raise DestinationRefused("URL recusada: porta inválida") from None
    allowed_schemes = ("http", "https") if allow_local else ("https",)
    if parts.scheme not in allowed_schemes:
        raise DestinationRefused(
            f"URL recusada: esquema {parts.scheme or 'ausente'!r}; só " + " ou ".join(allowed_schemes)
        )
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise DestinationRefused("URL recusada: credenciais na URL")
    host = (parts.hostname or "").rstrip(".") if parts.hostname else ""
    if not host:
        raise DestinationRefused("URL recusada: sem host")
    if parts.fragment:
        raise DestinationRefused("URL recusada: fragmento na URL")
    port = port_given if port_given is not None else (443 if parts.scheme == "https" else 80)
    if port == 0:
        raise DestinationRefused("URL recusada: porta inválida")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    literal = _literal(host)
    if literal is None:
        if not _HOSTNAME.match(host):
            raise DestinationRefused("URL recusada: host com caracteres fora de letras, dígitos, '-' e '.'")
        if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
            raise DestinationRefused("URL recusada: host numérico em forma não canônica")
        if host in LOCAL_NAMES and not allow_local:
            raise DestinationRefused("endereço de loopback")
        try:
            addresses = [ipaddress.ip_address(a) for a in resolve(host, port)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise DestinationRefused(f"host não resolvido: {type(exc).__name__}") from None
        if not addresses:
            raise DestinationRefused("host não resolvido")
    else:
        addresses = [literal]
    for address in addresses:
        refusal = address_refusal(address, allow_local)
        if refusal is not None:
            raise DestinationRefused(refusal)
    return Destination(parts.scheme, host, str(addresses[0]), port, path)
