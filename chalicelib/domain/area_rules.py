"""An order request checked against its area's settings (Parametrizador) and domain keys (Domínios)."""

from __future__ import annotations

from typing import Final

from chalicelib.domain.orders import FieldError, OrderRequest
from chalicelib.domain.partners import AreaSettings, DomainValues

PRODUCTS_DOMAIN: Final = "products"
DOCUMENT_TYPES_DOMAIN: Final = "document_types"


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
    errors: list[FieldError] = []
    if request.platform not in area.platforms:
        errors.append(
            FieldError(
                field="platform",
                code="PLATFORM_NOT_ALLOWED",
                message=f"plataforma {request.platform} não permitida para a área",
            )
        )
    if request.signature_method not in area.signature_methods:
        errors.append(
            FieldError(
                field="signature_method",
                code="SIGNATURE_METHOD_NOT_ALLOWED",
                message=f"meio de assinatura {request.signature_method} não permitido para a área",
            )
        )
    if request.amount > area.limits.max_amount:
        errors.append(
            FieldError(
                field="amount",
                code="AMOUNT_ABOVE_LIMIT",
                message=f"valor acima do limite da área ({area.limits.max_amount})",
            )
        )
    if len(request.guarantors) > area.limits.max_guarantors:
        errors.append(
            FieldError(
                field="guarantors",
                code="TOO_MANY_GUARANTORS",
                message=f"no máximo {area.limits.max_guarantors} garantidores",
            )
        )
    if len(request.documents) > area.limits.max_documents:
        errors.append(
            FieldError(
                field="documents",
                code="TOO_MANY_DOCUMENTS",
                message=f"no máximo {area.limits.max_documents} documentos",
            )
        )
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
