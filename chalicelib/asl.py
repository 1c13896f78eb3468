"""statemachine.asl.json as a document: its `"${Name}Arn"` placeholders and its Retry rules.

The committed file is valid JSON (jq, statelint, editors and Workflow Studio open it): Task resources are
quoted `"${LoadOrderArn}"` placeholders and retry numbers are literals. Whoever runs the workflow works on
the parsed document: the local stack fills the ARNs and sets its own (short) retries with
`render_definition`; packaging turns the retry numbers into the template's `${Retry...}` parameters with
`definition_for_substitutions`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

# `${Name}` only: JSONPath's own `$` (`"$.order_key"`, `"$$.Execution.Id"`) must pass untouched,
# which is why string.Template is not used.
PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)\}")

# The retry settings every Retry rule of every Task shares: setting name -> (Retry rule field, its type).
# The setting names are the template's parameters and the local stack's AME_LOCAL_ASL_SUBSTITUTIONS keys.
RETRY_SETTINGS: dict[str, tuple[str, type]] = {
    "RetryIntervalSeconds": ("IntervalSeconds", int),
    "RetryMaxAttempts": ("MaxAttempts", int),
    "RetryBackoffRate": ("BackoffRate", float),
}


class UnfilledPlaceholders(ValueError):
    """The template names placeholders that no substitution fills."""

    def __init__(self, names: Iterable[str]):
        self.names = sorted(set(names))
        super().__init__("unfilled ASL placeholders: " + ", ".join("${%s}" % n for n in self.names))


def placeholders(template_text: str) -> set[str]:
    return set(PLACEHOLDER.findall(template_text))


def render_asl(template_text: str, substitutions: Mapping[str, str]) -> str:
    """Replace every `${Name}` in a text; extra substitutions are ignored, a missing one is an error."""
    missing = placeholders(template_text) - set(substitutions)
    if missing:
        raise UnfilledPlaceholders(missing)
    return PLACEHOLDER.sub(lambda m: str(substitutions[m.group(1)]), template_text)


def load_definition(text: str) -> dict[str, Any]:
    """The parsed definition; a file that is not JSON fails here, with the JSON error."""
    definition = json.loads(text)
    if not isinstance(definition, dict) or not isinstance(definition.get("States"), dict):
        raise ValueError("an ASL definition is a JSON object with States")
    return definition


def _state_lists(definition: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every `States` object: the top level, each Map's Iterator/ItemProcessor, each Parallel branch."""
    yield definition["States"]
    for state in definition["States"].values():
        for nested in (state.get("Iterator"), state.get("ItemProcessor"), *state.get("Branches", ())):
            if nested:
                yield from _state_lists(nested)


def retry_rules(definition: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every Retry rule of every state, nested ones included (mutable: they are the document's own)."""
    for states in _state_lists(definition):
        for state in states.values():
            yield from state.get("Retry", ())


def _fill(value: Any, substitutions: Mapping[str, str], missing: set[str]) -> Any:
    if isinstance(value, str):
        missing.update(set(PLACEHOLDER.findall(value)) - set(substitutions))
        return PLACEHOLDER.sub(lambda m: str(substitutions.get(m.group(1), m.group(0))), value)
    if isinstance(value, dict):
        return {key: _fill(item, substitutions, missing) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, substitutions, missing) for item in value]
    return value


def render_definition(
    definition: Mapping[str, Any], substitutions: Mapping[str, str], *, retry: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A filled copy of the parsed definition.

    Every `${Name}` inside a string value is replaced from `substitutions` (extra ones are ignored, a
    missing one raises UnfilledPlaceholders). With `retry` (keys of RETRY_SETTINGS, values numbers or
    their text), those fields of every Retry rule are set, as the template's parameters do when deployed.
    """
    missing: set[str] = set()
    filled = _fill(definition, substitutions, missing)
    if missing:
        raise UnfilledPlaceholders(missing)
    if retry:
        unknown = set(retry) - set(RETRY_SETTINGS)
        if unknown:
            raise ValueError(f"unknown retry settings {sorted(unknown)}; known: {sorted(RETRY_SETTINGS)}")
        for rule in retry_rules(filled):
            for setting, value in retry.items():
                field, kind = RETRY_SETTINGS[setting]
                rule[field] = kind(value)
    return filled


def split_retry_settings(settings: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(retry settings, other substitutions) of a mapping that may mix both, as the local config does."""
    retry = {k: v for k, v in settings.items() if k in RETRY_SETTINGS}
    return retry, {k: v for k, v in settings.items() if k not in RETRY_SETTINGS}


def definition_for_substitutions(definition: Mapping[str, Any]) -> str:
    """The text CloudFormation's DefinitionSubstitutions fills when the stack is deployed.

    ARN placeholders stay quoted as committed; every Retry rule's numbers become the unquoted
    `${RetryIntervalSeconds}`, `${RetryMaxAttempts}` and `${RetryBackoffRate}` placeholders, because the
    substitution is textual and Step Functions wants numbers there, not strings. The result is JSON once
    substituted, not before, which is why only the packaged copy has this form.
    """
    marked = copy.deepcopy(dict(definition))
    markers = {setting: f"\x00retry:{setting}\x00" for setting in RETRY_SETTINGS}
    for rule in retry_rules(marked):
        for setting, (field, _) in RETRY_SETTINGS.items():
            rule[field] = markers[setting]
    text = json.dumps(marked, indent=2, ensure_ascii=False)
    for setting, marker in markers.items():
        text = text.replace(json.dumps(marker), "${%s}" % setting)
    return text + "\n"


def logical_id(function_name: str) -> str:
    """Chalice's logical id for a function: `load_order` -> `LoadOrder`.

    The same steps as chalice.utils.to_cfn_resource_name, which is not shipped to Lambda.
    """
    name = function_name
    for separator in ("-", "_"):
        name = "".join(w[0].upper() + w[1:] for w in name.split(separator) if w)
    return re.sub(r"[^A-Za-z0-9]+", "", name)


def function_arn_placeholder(function_name: str) -> str:
    """`start_processing` -> `StartProcessingArn` (the placeholder name, without `${}`)."""
    return logical_id(function_name) + "Arn"


def function_arn_placeholders(function_names: Iterable[str], arn_for: Callable[[str], str]) -> dict[str, str]:
    """`{"StartProcessingArn": arn_for("start_processing"), ...}` for each Chalice lambda function."""
    return {function_arn_placeholder(name): arn_for(name) for name in function_names}
