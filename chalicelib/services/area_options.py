"""What the portal's order form offers for one area (docs/contracts.md §2, GET /v1/areas/{area_code}/options).

Built from the same cached look-ups intake uses (Parametrizador's area settings, Domínios' `products` and
`document_types`), so a form filled from it passes intake's reference checks. Platforms and signature methods
have no domain of their own in Domínios: their display names come from `PLATFORM_NAMES` and
`SIGNATURE_METHOD_NAMES`, and an unknown code is shown as itself.
"""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.domain.area_rules import DOCUMENT_TYPES_DOMAIN, PRODUCTS_DOMAIN
from chalicelib.domain.errors import AreaNotFound, DependencyUnavailable
from chalicelib.domain.money import format_amount
from chalicelib.services.ports import AreaDirectory, DomainDirectory, PartnerError

log = logging.getLogger(__name__)

PLATFORM_NAMES = {"BANKLINE": "Bankline", "MOBILE": "Aplicativo (mobile)", "AGENCIA": "Agência"}
SIGNATURE_METHOD_NAMES = {
    "DIGITAL": "Assinatura digital (certificado)",
    "ELETRONICA": "Assinatura eletrônica",
    "FISICA": "Assinatura física",
}


class AreaOptions:
    def __init__(self, areas: AreaDirectory, domains: DomainDirectory, executor: Any = None):
        self._areas, self._domains, self._executor = areas, domains, executor

    def for_area(self, area_code: str) -> dict[str, Any]:
        """The caller's area only (the view checks that first); unknown or inactive → AreaNotFound."""
        # The domain look-ups overlap with the area's, as in intake: a cold call costs one round trip.
        futures = (
            [self._executor.submit(self._domains.get_domain, name) for name in (PRODUCTS_DOMAIN, DOCUMENT_TYPES_DOMAIN)]
            if self._executor
            else None
        )
        try:
            area = self._areas.get_area(area_code)
            if futures:
                products, document_types = (f.result() for f in futures)
            else:
                products = self._domains.get_domain(PRODUCTS_DOMAIN)
                document_types = self._domains.get_domain(DOCUMENT_TYPES_DOMAIN)
        except PartnerError as exc:
            log.warning("reference data unavailable", extra={"partner": exc.partner, "error": str(exc)})
            raise DependencyUnavailable(exc.partner, f"{exc.partner} não respondeu; tente novamente") from exc
        if area is None or not area.active:
            raise AreaNotFound(area_code)
        return {
            "area_code": area.area_code,
            "name": area.name,
            "platforms": [{"code": c, "name": PLATFORM_NAMES.get(c, c)} for c in area.platforms],
            "signature_methods": [
                {"code": c, "name": SIGNATURE_METHOD_NAMES.get(c, c)} for c in area.signature_methods
            ],
            "limits": {
                "max_amount": format_amount(area.limits.max_amount) if area.limits.max_amount is not None else None,
                "max_guarantors": area.limits.max_guarantors,
                "max_documents": area.limits.max_documents,
            },
            "products": _active(products),
            "document_types": _active(document_types),
        }


def _active(values: Any) -> list[dict[str, str]]:
    if values is None:
        return []
    return [{"code": v.key, "name": v.label} for v in values.values if v.active]
