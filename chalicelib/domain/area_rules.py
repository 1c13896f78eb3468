"""An order request checked against its area's settings (Parametrizador) and domain keys (Domínios)."""

from __future__ import annotations

from typing import Final

from chalicelib.domain.orders import FieldError, OrderRequest
from chalicelib.domain.partners import AreaSettings, DomainValues

PRODUCTS_DOMAIN: Final = "products"
DOCUMENT_TYPES_DOMAIN: Final = "document_types"

_AREA_MESSAGES: Final = {
    "PLATFORM_NOT_ALLOWED": "plataforma {platform} não permitida para a área",
    "SIGNATURE_METHOD_NOT_ALLOWED": "meio de assinatura {signature_method} não permitido para a área",
    "AMOUNT_ABOVE_LIMIT": "valor acima do limite da área ({max_amount})",
    "TOO_MANY_GUARANTORS": "no máximo {max_guarantors} garantidores",
    "TOO_MANY_DOCUMENTS": "no máximo {max_documents} documentos",
}


def check_against_area(
    request: OrderRequest,
    area: AreaSettings | None,
    products: DomainValues | None,
    document_types: DomainValues | None,
) -> list[FieldError]:
    """Business rule: every check of docs/contracts.md §2 that needs the area and the domains; all errors at once.

    A missing or inactive area stops at that. Otherwise the platform, the signature method, the amount and
    the numbers of guarantors and documents must fit the area; the product and every document type must be
    active keys of their domains; and no party may repeat another's document.
    """
    if area is None:
        return [
            FieldError(
                field="area_code",
                code="AREA_NOT_FOUND",
                message=f"área {request.area_code} não existe no parametrizador",
            )
        ]
    if not area.active:
        return [FieldError(field="area_code", code="AREA_INACTIVE", message=f"área {request.area_code} está inativa")]
    limits = area.limits
    # (field, code) -> whether the request breaks that setting of the area.
    broken = {
        ("platform", "PLATFORM_NOT_ALLOWED"): request.platform not in area.platforms,
        ("signature_method", "SIGNATURE_METHOD_NOT_ALLOWED"): request.signature_method not in area.signature_methods,
        ("amount", "AMOUNT_ABOVE_LIMIT"): request.amount > limits.max_amount,
        ("guarantors", "TOO_MANY_GUARANTORS"): len(request.guarantors) > limits.max_guarantors,
        ("documents", "TOO_MANY_DOCUMENTS"): len(request.documents) > limits.max_documents,
    }
    said = {**limits.model_dump(), "platform": request.platform, "signature_method": request.signature_method}
    errors = [
        FieldError(field=field, code=code, message=_AREA_MESSAGES[code].format(**said))
        for (field, code), is_broken in broken.items()
        if is_broken
    ]
    errors.extend(_domain_key_errors("product_code", request.product_code, products, PRODUCTS_DOMAIN))
    for i, doc in enumerate(request.documents):
        errors.extend(
            _domain_key_errors(
                f"documents[{i}].document_type", doc.document_type, document_types, DOCUMENT_TYPES_DOMAIN
            )
        )
    seen = {request.requester.document}
    for i, guarantor in enumerate(request.guarantors):
        if guarantor.document in seen:
            errors.append(
                FieldError(
                    field=f"guarantors[{i}].document",
                    code="DUPLICATE_PARTY",
                    message="documento já informado em outra parte da ordem",
                )
            )
        seen.add(guarantor.document)
    return errors


def _domain_key_errors(field: str, key: str, values: DomainValues | None, domain: str) -> list[FieldError]:
    """Business rule: a key must exist in its domain and be active."""
    found = values.find(key) if values is not None else None
    if found is None:
        return [
            FieldError(field=field, code="DOMAIN_KEY_NOT_FOUND", message=f"chave {key} não existe no domínio {domain}")
        ]
    if not found.active:
        return [
            FieldError(field=field, code="DOMAIN_KEY_INACTIVE", message=f"chave {key} está inativa no domínio {domain}")
        ]
    return []
