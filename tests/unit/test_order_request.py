"""The POST /v1/orders body: schema, money as decimal strings, field names in every error."""

from decimal import Decimal

import pytest

from chalicelib.domain.errors import OrderValidationError
from chalicelib.openapi_examples import order_request
from chalicelib.services.intake import parse_order_request


def valid_body(**changes):
    return order_request(**changes)


def errors_of(body):
    with pytest.raises(OrderValidationError) as info:
        parse_order_request(body)
    return {(e.field, e.code) for e in info.value.errors}


def test_valid_body_is_parsed_and_documents_are_normalised():
    request = parse_order_request(valid_body())
    assert request.amount == Decimal("250000.00")
    assert request.requester.document == "11222333000181"
    assert request.guarantors[0].document == "52998224725"


def test_bad_requester_check_digits_name_the_field():
    body = valid_body(requester={"person_type": "PJ", "document": "11.222.333/0001-82"})
    assert ("requester.document", "INVALID_DOCUMENT") in errors_of(body)


def test_bad_guarantor_document_names_its_index():
    body = valid_body(
        guarantors=[{"person_type": "PF", "document": "52998224725"}, {"person_type": "PF", "document": "123"}]
    )
    assert ("guarantors[1].document", "INVALID_DOCUMENT") in errors_of(body)


def test_cnpj_sent_as_pf_is_invalid():
    body = valid_body(requester={"person_type": "PF", "document": "11222333000181"})
    assert ("requester.document", "INVALID_DOCUMENT") in errors_of(body)


@pytest.mark.parametrize("amount", [250000.0, "250000.001", "-1.00", "0", "abc", "1e5", None])
def test_amount_must_be_a_positive_decimal_string(amount):
    assert ("amount", "INVALID_AMOUNT") in errors_of(valid_body(amount=amount))


def test_missing_fields_are_each_reported():
    body = valid_body()
    del body["area_code"], body["requester"]
    assert {("area_code", "REQUIRED"), ("requester", "REQUIRED")} <= errors_of(body)


def test_unknown_field_is_rejected_rather_than_silently_ignored():
    assert ("guarantor", "UNKNOWN_FIELD") in errors_of(valid_body(guarantor=[]))


def test_wrong_person_type_is_an_invalid_value():
    body = valid_body(requester={"person_type": "XX", "document": "11222333000181"})
    assert ("requester.person_type", "INVALID_VALUE") in errors_of(body)


def test_non_object_body_is_rejected():
    assert ("body", "INVALID_TYPE") in errors_of([1, 2])


def test_wrong_type_for_a_list_is_reported():
    assert ("guarantors", "INVALID_TYPE") in errors_of(valid_body(guarantors="nope"))
