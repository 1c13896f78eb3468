"""Fills the `${Name}` placeholders of statemachine.asl.json, for the local stack and for packaging."""
from __future__ import annotations

import re
from typing import Callable, Iterable, Mapping

# `${Name}` only: JSONPath's own `$` (`"$.order_key"`, `"$$.Execution.Id"`) must pass untouched,
# which is why string.Template is not used.
PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)\}")


class UnfilledPlaceholders(ValueError):
    """The template names placeholders that no substitution fills."""

    def __init__(self, names: Iterable[str]):
        self.names = sorted(set(names))
        super().__init__("unfilled ASL placeholders: " + ", ".join("${%s}" % n for n in self.names))


def placeholders(template_text: str) -> set[str]:
    return set(PLACEHOLDER.findall(template_text))


def render_asl(template_text: str, substitutions: Mapping[str, str]) -> str:
    """Replace every `${Name}`; extra substitutions are ignored, a missing one is an error."""
    missing = placeholders(template_text) - set(substitutions)
    if missing:
        raise UnfilledPlaceholders(missing)
    return PLACEHOLDER.sub(lambda m: str(substitutions[m.group(1)]), template_text)


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


def function_arn_placeholders(
    function_names: Iterable[str], arn_for: Callable[[str], str]
) -> dict[str, str]:
    """`{"StartProcessingArn": arn_for("start_processing"), ...}` for each Chalice lambda function."""
    return {function_arn_placeholder(name): arn_for(name) for name in function_names}
