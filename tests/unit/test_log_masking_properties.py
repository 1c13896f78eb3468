"""Log masking as a property: CPFs, CNPJs (numeric and alphanumeric, any case), e-mails, phones, Bearer tokens
and whsec_ secrets generated inside random text never survive mask_text, whatever stands next to them."""

from __future__ import annotations

import base64
import string

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from stdnum.br import cnpj as stdnum_cnpj
from stdnum.br import cpf as stdnum_cpf

from chalicelib import observability as obs

# Neighbours: letters (ASCII and Portuguese), "_" and punctuation; no digits, which would make a longer
# number of which the document is only a part.
FILLER = st.text(alphabet=string.ascii_letters + "_ :;,=/()[]{}\"'áçãéõÇ-\n", max_size=20)


@st.composite
def cpfs(draw) -> str:
    base = draw(st.text(alphabet=string.digits, min_size=9, max_size=9).filter(lambda d: len(set(d)) > 1))
    number = base + stdnum_cpf._calc_check_digits(base)
    return stdnum_cpf.format(number) if draw(st.booleans()) else number


@st.composite
def cnpjs(draw) -> str:
    alphabet = string.digits + string.ascii_uppercase if draw(st.booleans()) else string.digits
    base = draw(st.text(alphabet=alphabet, min_size=12, max_size=12).filter(lambda d: len(set(d)) > 1))
    number = base + stdnum_cnpj.calc_check_digits(base)
    if draw(st.booleans()):
        number = stdnum_cnpj.format(number)
    return number.lower() if draw(st.booleans()) else number


@st.composite
def phones(draw) -> str:
    ddd = draw(st.sampled_from(["11", "21", "31", "47", "61", "85", "99"]))
    first = draw(
        st.sampled_from(
            [
                "9" + draw(st.text(string.digits, min_size=4, max_size=4)),
                draw(st.text("2345", min_size=1, max_size=1)) + draw(st.text(string.digits, min_size=3, max_size=3)),
            ]
        )
    )
    last = draw(st.text(string.digits, min_size=4, max_size=4))
    shape = draw(
        st.sampled_from(
            [
                "+55{d}{f}{l}",
                "+55 {d} {f}-{l}",
                "+55 ({d}) {f}-{l}",
                "55{d}{f}{l}",
                "({d}) {f}-{l}",
                "({d}){f}-{l}",
                "({d}) {f}{l}",
                "{d} {f}-{l}",
                "+55-{d}-{f}-{l}",
            ]
        )
    )
    return shape.format(d=ddd, f=first, l=last)


def _token_text(min_size: int = 16) -> st.SearchStrategy[str]:
    return st.text(alphabet=string.ascii_letters + string.digits + "-._~+/", min_size=min_size, max_size=60)


@st.composite
def bearer_tokens(draw) -> str:
    return draw(st.sampled_from(["Bearer ", "bearer ", "BEARER  "])) + draw(_token_text())


@st.composite
def webhook_secrets(draw) -> str:
    return "whsec_" + base64.b64encode(draw(st.binary(min_size=16, max_size=40))).decode()


@st.composite
def jwts(draw) -> str:
    part = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=8, max_size=40)
    return "eyJ" + draw(part) + "." + draw(part) + "." + draw(part)


SECRETS = st.one_of(cpfs(), cnpjs(), phones(), st.emails(), bearer_tokens(), webhook_secrets(), jwts())


def _sensitive_part(secret: str) -> str:
    return secret.split()[-1] if secret.lower().startswith("bearer") else secret  # the scheme may stay


def _survives(secret: str, masked: str) -> bool:
    local, at, _domain = secret.partition("@")
    if at and set(local) == {"*"}:
        # A local part spelled with the mask's own character reads the same once masked: check the mask ran.
        return "***@" not in masked
    return _sensitive_part(secret) in masked


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=FILLER, secret=SECRETS, after=FILLER)
def test_no_generated_secret_survives_inside_random_text(before, secret, after):
    # An e-mail's own atext neighbours would extend it; a token's charset likewise: both keep a gap.
    if "@" in secret or secret.lower().startswith(("bearer", "whsec_", "eyj")):
        before, after = before + " ", " " + after
    # Filler that happens to spell the secret itself is not a leak of it.
    assume(_sensitive_part(secret) not in before + after)
    masked = obs.mask_text(before + secret + after)
    assert not _survives(secret, masked), masked


@settings(max_examples=200, deadline=None)
@given(secrets=st.lists(SECRETS, min_size=2, max_size=5), glue=st.sampled_from([" ", "; ", " | ", "\n"]))
def test_several_secrets_in_one_line_are_all_masked(secrets, glue):
    masked = obs.mask_text(glue.join(secrets))
    assert not any(_survives(s, masked) for s in secrets), masked


def test_the_cases_the_review_found():
    cases = {
        "cpf_52998224725": "cpf_***.***.***-25",
        "doc52998224725x": "doc***.***.***-25x",
        "cnpj 12abc34501de35": "cnpj ************35",
        "cnpj:12abc34501de35,": "cnpj:************35,",
        "tel (11) 99999-0000.": "tel +55*********.",
        "tel 5511999990000.": "tel +55*********.",
        "tel (11 90000-0000": "tel (+55*********",
        "Authorization: Bearer abc.def-ghi": "Authorization: Bearer ***",
        "secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw": "secret whsec_***",
        "?access_token=xyz&guarantor_document=529.982.247-25": "?access_token=***&guarantor_document=***.***.***-25",
    }
    for text, expected in cases.items():
        assert obs.mask_text(text) == expected


def test_order_keys_amounts_dates_and_durations_are_left_alone():
    text = "ordem 01JDQ7Z8K3M4N5P6Q7R8S9T0VW valor 250000.00 em 2026-11-29T10:00:02Z levou 1234 ms, HTTP 502"
    assert obs.mask_text(text) == text
