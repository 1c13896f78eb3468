"""Writes the merge template for `chalice package` from chalicelib/queues.py, the ASL and the app's functions.

Nothing about queues, function names or metric names is typed twice: queues come from chalicelib.queues,
functions from the Chalice app object, Task placeholders from statemachine.asl.json, metric names from
chalicelib.observability. `chalice package` merges the result recursively into its own SAM template
(dicts merge, lists and scalars replace), so this file only adds keys to what Chalice generates - except
`Role`, which points each function at its own least-privilege role. Each section of the template is a
module of infra/template/; this file puts them together.

Usage: python infra/build_template.py [--out build/merge-template.json] [--stage dev]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib.queues import QUEUES, QueueSpec
from infra import portal_template as portal
from infra.template import (
    api,
    bucket,
    cache,
    database,
    monitoring,
    network,
    parameters,
    state_machine,
)
from infra.template import (
    functions as function_section,
)
from infra.template import (
    queues as queue_section,
)
from infra.template.common import (
    API_NAME,
    ASL_FILE,
    BUCKET_NAME,
    RETRY_PARAMETERS,
    STATE_MACHINE,
    TemplateError,
    dlq_logical_id,
    get_att,
    ref,
    sub,
)
from infra.template.inventory import FUNCTION_ACCESS, Access, AppFunction, app_functions, load_app

__all__ = [
    "ASL_FILE",
    "FUNCTION_ACCESS",
    "RETRY_PARAMETERS",
    "STATE_MACHINE",
    "Access",
    "AppFunction",
    "TemplateError",
    "app_functions",
    "build_template",
    "dlq_logical_id",
    "load_app",
    "main",
]


def build_template(
    app: Any = None, queues: Mapping[str, QueueSpec] = QUEUES, stage: str = "dev", asl_text: str | None = None
) -> dict[str, Any]:
    """The merge template as a dict; raises TemplateError when the app, queues.py and the ASL disagree."""
    app = app if app is not None else load_app()
    functions = app_functions(app)
    asl_text = asl_text if asl_text is not None else (ROOT / ASL_FILE).read_text(encoding="utf-8")
    consumer_timeouts = {s.consumer: s.consumer_timeout for s in queues.values() if s.consumer}
    resources: dict[str, Any] = {}
    for section in (
        network.resources(),
        database.resources(),
        cache.resources(),
        bucket.resources(),
        portal.resources(),
        queue_section.resources(queues, consumer_timeouts),
        function_section.resources(functions, queues),
        state_machine.resources(asl_text, functions),
        monitoring.resources(functions, queues),
    ):
        overlap = set(section) & set(resources)
        if overlap:
            raise TemplateError(f"logical ids defined twice: {sorted(overlap)}")
        resources.update(section)
    if any(fn.kind == "route" for fn in functions):
        resources["RestAPI"] = {
            "Properties": {
                "Name": sub(API_NAME),
                "TracingEnabled": True,
                "DefinitionBody": api.unsupported_methods(app.routes),
            }
        }
        resources.update(api.resources())
    # Chalice's DefaultRole allows sqs:* reads on '*'; no function uses it any more, so it keeps no policy.
    resources["DefaultRole"] = {"Properties": {"Policies": []}}
    template = {
        "Description": "AME: API, workflow, queues, database, cache and observability (infra/build_template.py)",
        "Parameters": {**parameters.parameters(stage), **portal.parameters()},
        "Conditions": {**parameters.conditions(), **portal.conditions()},
        "Resources": resources,
        "Outputs": {
            "StateMachineArn": {"Value": ref(STATE_MACHINE)},
            "DocumentBucketName": {"Value": ref("DocumentBucket")},
            "DatabaseProxyEndpoint": {"Value": get_att("DatabaseProxy", "Endpoint")},
            "CacheEndpoint": {"Value": get_att("Cache", "PrimaryEndPoint.Address")},
            **{f"{s.logical_id}Url": {"Value": ref(s.logical_id)} for s in queues.values()},
            **{f"{dlq_logical_id(s)}Url": {"Value": ref(dlq_logical_id(s))} for s in queues.values()},
            **portal.outputs(),
        },
    }
    from infra import analytics_template

    return analytics_template.extend(template, stage, BUCKET_NAME, "DocumentBucket")


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "merge-template.json"))
    parser.add_argument("--stage", default="dev")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        template = build_template(stage=args.stage)
    except TemplateError as exc:
        print(f"build_template: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(template, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"merge template written to {out} ({len(template['Resources'])} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
