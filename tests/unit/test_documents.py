"""CPF/CNPJ normalisation and check digits, alphanumeric CNPJ included."""

import pytest

from chalicelib.domain.documents import (
    InvalidDocument,
    is_valid_cnpj,
    is_valid_cpf,
    normalize_cnpj,
    normalize_cpf,
)
from chalicelib.domain.masking import mask_cpf


def test_formatted_cpf_is_normalised_to_digits():
    assert normalize_cpf("529.982.247-25") == "52998224725"


def test_cpf_with_wrong_check_digit_is_rejected():
    with pytest.raises(InvalidDocument):
        normalize_cpf("529.982.247-26")


@pytest.mark.parametrize("value", ["11111111111", "5299822472", "abc", ""])
def test_malformed_or_repeated_cpf_is_rejected(value):
    assert not is_valid_cpf(value)


def test_numeric_cnpj_is_normalised():
    assert normalize_cnpj("11.222.333/0001-81") == "11222333000181"


def test_alphanumeric_cnpj_is_accepted_formatted_and_lowercase():
    assert normalize_cnpj("12.abc.345/01de-35") == "12ABC34501DE35"


def test_alphanumeric_cnpj_with_wrong_check_digits_is_rejected():
    assert not is_valid_cnpj("12ABC34501DE36")


def test_cnpj_check_digits_must_be_numeric():
    assert not is_valid_cnpj("12ABC34501DEA5")


def test_a_cpf_is_masked_in_one_format_formatted_or_not():
    assert mask_cpf("52998224725") == mask_cpf("529.982.247-25") == "***.***.***-25"
