"""Observability: personal data masked in logs, tracing and metrics silent outside Lambda, EMF shape in Lambda."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from chalicelib import observability as obs


def test_unformatted_and_formatted_cpf_are_masked_keeping_the_last_two_digits():
    assert obs.mask_text("cpf 52998224725 ok") == "cpf ***.***.***-25 ok"
    assert obs.mask_text("cpf 529.982.247-25.") == "cpf ***.***.***-25."
    assert obs.mask_text("cpf ***.***.***-25") == "cpf ***.***.***-25"  # already masked: left alone


def test_numeric_and_alphanumeric_cnpj_are_masked_formatted_or_not():
    assert obs.mask_text("11222333000181") == "************81"
    assert obs.mask_text("empresa 12ABC34501DE35") == "empresa ************35"
    assert obs.mask_text("(12.ABC.345/01DE-35)") == "(************35)"


def test_email_keeps_first_letter_and_domain_only():
    assert obs.mask_text("para maria.souza+x@example.com.br") == "para m***@example.com.br"


def test_brazilian_phone_is_masked_in_any_usual_spelling():
    for phone in ("+5511999990000", "+55 11 99999-0000", "+55 (11) 3333-4444"):
        assert obs.mask_text(f"tel {phone}!") == "tel +55*********!"


def test_order_keys_and_ordinary_words_are_left_alone():
    text = "order 01JDQ7Z8K3M4N5P6Q7R8S9T0VW area PARAMETRIZADOR took 12345 ms"
    assert obs.mask_text(text) == text


def test_nested_extras_and_eleven_digit_integers_are_masked_but_safe_keys_are_not():
    masked = obs.mask_value(
        {
            "order_key": "01JDQ7Z8K3M4N5P6Q7R8S9T0VW",
            "people": [{"cpf": 52998224725, "email": "a@b.co"}],
            "count": 3,
        }
    )
    assert masked == {
        "order_key": "01JDQ7Z8K3M4N5P6Q7R8S9T0VW",
        "people": [{"cpf": "***.***.***-25", "email": "a***@b.co"}],
        "count": 3,
    }


def test_json_log_line_masks_message_and_extras_and_carries_the_bound_order():
    stream = io.StringIO()
    logger = obs.get_logger(stream=stream)
    logger.append_keys(order_key="01JDQ7Z8K3M4N5P6Q7R8S9T0VW", execution_arn="arn:aws:states:x:1:execution:m:k")
    logger.info("pessoa 52998224725 sem operador", extra={"recipient": "+5511999990000"})
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["message"] == "pessoa ***.***.***-25 sem operador"
    assert line["recipient"] == "+55*********"
    assert line["order_key"] == "01JDQ7Z8K3M4N5P6Q7R8S9T0VW"
    assert line["execution_arn"].startswith("arn:aws:states:")


def test_tracing_and_metrics_are_off_outside_lambda_and_follow_the_switches_inside():
    assert not obs.tracing_enabled({})
    assert not obs.metrics_enabled({})
    assert obs.tracing_enabled({"AWS_LAMBDA_FUNCTION_NAME": "f"})
    assert not obs.tracing_enabled({"AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_XRAY_SDK_ENABLED": "false"})
    assert obs.metrics_enabled({"AWS_LAMBDA_FUNCTION_NAME": "f"})
    assert not obs.metrics_enabled({"AWS_LAMBDA_FUNCTION_NAME": "f", "POWERTOOLS_METRICS_DISABLED": "true"})


def test_subsegment_is_a_no_op_outside_lambda(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    with obs.subsegment("partner.poderes", area="CREDITO_PJ") as sub:
        assert sub is None
    assert obs.patch_libraries() is False


def test_partner_call_outside_lambda_reraises_and_emits_nothing(monkeypatch, capsys):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)

    class PartnerUnavailable(Exception):
        pass

    with pytest.raises(PartnerUnavailable):
        with obs.partner_call("poderes"):
            raise PartnerUnavailable("503")
    assert capsys.readouterr().out == ""


def test_importing_the_module_loads_neither_powertools_nor_xray():
    code = (
        "import sys, chalicelib.observability as o; "
        "print(any(m.startswith(('aws_xray_sdk', 'aws_lambda_powertools')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_in_lambda_partner_errors_are_emf_lines_with_partner_and_kind(monkeypatch, capsys):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ame-dev-FetchPowers")
    monkeypatch.setenv("AWS_XRAY_SDK_ENABLED", "false")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)

    class PartnerUnavailable(Exception):
        pass

    with pytest.raises(PartnerUnavailable):
        with obs.partner_call("poderes"):
            raise PartnerUnavailable("503")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    by_name = {m["Name"]: line for line in lines for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert set(by_name) == {obs.METRIC_PARTNER_LATENCY, obs.METRIC_PARTNER_ERRORS}
    assert by_name[obs.METRIC_PARTNER_ERRORS]["kind"] == "transient"
    assert by_name[obs.METRIC_PARTNER_ERRORS]["partner"] == "poderes"
    assert by_name[obs.METRIC_PARTNER_LATENCY]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "AME"


def test_middleware_binds_the_order_of_a_workflow_task_and_forgets_it_afterwards():
    from chalice import Chalice
    from chalice.test import Client

    app = Chalice("observability-test")
    app.register_middleware(obs.chalice_middleware, "all")
    seen: dict[str, str | None] = {}

    @app.lambda_function(name="task")
    def task(event, context):
        seen["order_key"] = obs.current_order_key()
        return {}

    with Client(app) as client:
        client.lambda_.invoke("task", {"order_key": "01JDQ7Z8K3M4N5P6Q7R8S9T0VW", "execution_id": "arn:x"})
    assert seen["order_key"] == "01JDQ7Z8K3M4N5P6Q7R8S9T0VW"
    assert obs.current_order_key() is None
