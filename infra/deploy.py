"""Packages AME with `chalice package --merge-template` and deploys the result as one CloudFormation stack.

    python -m infra.deploy package  --stage dev            # build/dev/: sam.json, deployment.zip, ASL
    python -m infra.deploy validate --stage dev            # package + cfn-lint + statelint, offline
    python -m infra.deploy deploy   --stage dev --artifact-bucket my-bucket [--parameters infra/parameters/dev.json]

`deploy` checks everything it needs (stage, region, credentials, parameters, artifact bucket) before
packaging anything, and says all that is missing at once. It uses boto3 alone: upload the code, the ASL and
the template to S3, then one change set with the SAM transform (what `aws cloudformation package` +
`aws cloudformation deploy` do; docs/deploy.md gives those commands too). Never shipped to Lambda.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra.build_template import ASL_FILE, build_template  # noqa: E402

STAGE_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
# The Lambda Python runtime ships its own boto3/botocore; aws-xray-sdk drags botocore (16 MB zipped) in.
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")
# (regex on the path inside the zip, why it can go). Each is checked by importing the app from the zip.
TRIM_RULES: tuple[tuple[str, str], ...] = (
    (r"(boto3|botocore|s3transfer)/", "boto3/botocore (the Lambda runtime has them)"),
    (r"aws_lambda_powertools/event_handler/openapi/swagger_ui/", "Powertools' Swagger UI assets (not served)"),
    (r"stdnum/.*\.dat$", "python-stdnum lookup tables of other countries (AME validates CPF/CNPJ only)"),
    (r"sqlalchemy/testing/", "SQLAlchemy's test harness"),
    (r"sqlalchemy/dialects/(postgresql|oracle|mssql)/", "SQLAlchemy dialects AME does not speak"),
    (r".*\.pyi$", "type stubs"),
)
PLACEHOLDER_VALUE = "REPLACE_ME"
VENV_BIN = Path(sys.executable).parent


class DeployError(RuntimeError):
    """Something the deploy needs is missing; the message lists every missing thing."""


def _tool(name: str) -> str:
    local = VENV_BIN / name
    return str(local) if local.exists() else name


# ---------------------------------------------------------------------------------------------- checks


def preflight(
    stage: str | None,
    environ: Mapping[str, str],
    need_credentials: bool,
    parameters_file: Path | None = None,
    artifact_bucket: str | None = None,
) -> list[str]:
    """Every problem that would stop the run, in words a person can act on; empty when all is set."""
    problems: list[str] = []
    if not stage:
        problems.append("no stage: run `make deploy STAGE=dev` (or prod), one of the stages of .chalice/config.json")
    elif not STAGE_PATTERN.match(stage):
        problems.append(f"stage {stage!r} is not a lowercase name like dev or prod")
    elif stage not in _chalice_stages():
        problems.append(f"stage {stage!r} is not in .chalice/config.json (stages: {', '.join(_chalice_stages())})")
    if not environ.get("AWS_DEFAULT_REGION"):
        problems.append(
            "AWS_DEFAULT_REGION is not set (chalice package and CloudFormation need a region), "
            "e.g. export AWS_DEFAULT_REGION=sa-east-1"
        )
    if need_credentials:
        if not has_credentials(environ):
            problems.append(
                "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
                "(and AWS_SESSION_TOKEN), or run `aws sso login`"
            )
        if not artifact_bucket:
            problems.append("no artifact bucket: pass ARTIFACT_BUCKET=<S3 bucket for code and templates>")
        if parameters_file is not None:
            problems.extend(parameter_problems(parameters_file))
    return problems


def has_credentials(environ: Mapping[str, str]) -> bool:
    """Resolves credentials the way boto3 would, without asking the EC2 metadata service (no network)."""
    import botocore.session

    env = dict(environ)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    session = botocore.session.Session(profile=env.get("AWS_PROFILE") or None)
    try:
        return session.get_credentials() is not None
    except Exception:  # a named profile that does not exist, an unreadable config file
        return False


def parameter_problems(path: Path) -> list[str]:
    if not path.exists():
        return [f"parameters file {path} does not exist (copy infra/parameters/dev.json)"]
    unset = [k for k, v in load_parameters(path).items() if PLACEHOLDER_VALUE in str(v)]
    return [f"{path}: set {', '.join(unset)} (still {PLACEHOLDER_VALUE})"] if unset else []


def load_parameters(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in data.get("Parameters", data).items()}


def _chalice_stages() -> list[str]:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    return sorted(config.get("stages", {}))


# ---------------------------------------------------------------------------------------------- package


def package(stage: str, out_dir: Path, environ: Mapping[str, str] | None = None, trim: bool = True) -> dict[str, Any]:
    """Merge template + `chalice package` + the ASL beside sam.json (its DefinitionUri is relative), in the
    form DefinitionSubstitutions fills (chalicelib.asl.definition_for_substitutions)."""
    env = dict(os.environ if environ is None else environ)
    out_dir.mkdir(parents=True, exist_ok=True)
    merge_file = out_dir / "merge-template.json"
    merge_file.write_text(json.dumps(build_template(stage=stage), indent=2) + "\n", encoding="utf-8")
    package_dir = out_dir / "package"
    if package_dir.exists():
        shutil.rmtree(package_dir)
    subprocess.run(
        [
            _tool("chalice"),
            "--project-dir",
            str(ROOT),
            "package",
            "--stage",
            stage,
            "--merge-template",
            str(merge_file),
            str(package_dir),
        ],
        check=True,
        env=env,
        cwd=ROOT,
    )
    (package_dir / ASL_FILE).write_text(packaged_definition(), encoding="utf-8")
    zip_path = package_dir / "deployment.zip"
    raw_size = zip_path.stat().st_size
    removed = trim_package(zip_path) if trim else []
    return {
        "template": package_dir / "sam.json",
        "zip": zip_path,
        "zip_bytes_chalice": raw_size,
        "zip_bytes": zip_path.stat().st_size,
        "removed": removed,
    }


def _dist_name(top: str) -> str:
    return re.split(r"-\d", top, maxsplit=1)[0].lower()


def trim_package(zip_path: Path, rules: Iterable[tuple[str, str]] | None = None) -> list[str]:
    """Drops from the zip what the Lambda runtime already has and what AME never loads (TRIM_RULES);
    returns the rules that removed something. The bench and the deploy test import the app from the result."""
    rules = list(TRIM_RULES if rules is None else rules)
    compiled = [(re.compile(pattern), reason) for pattern, reason in rules]
    trimmed = zip_path.with_suffix(".trimmed.zip")
    hit: set[str] = set()
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(trimmed, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():
            name = info.filename
            top = name.split("/", 1)[0]
            if top.endswith(".dist-info") and _dist_name(top) in PROVIDED_BY_RUNTIME:
                hit.add(f"{_dist_name(top)} metadata")
                continue
            rule = next((reason for pattern, reason in compiled if pattern.match(name)), None)
            if rule:
                hit.add(rule)
                continue
            dst.writestr(info, src.read(name), compresslevel=9)
    trimmed.replace(zip_path)
    return sorted(hit)


def packaged_definition(asl_text: str | None = None) -> str:
    """The copy of statemachine.asl.json that is uploaded: retry numbers as the template's parameters."""
    from chalicelib.asl import definition_for_substitutions, load_definition

    text = asl_text if asl_text is not None else (ROOT / ASL_FILE).read_text(encoding="utf-8")
    return definition_for_substitutions(load_definition(text))


def render_asl_for_lint(asl_text: str) -> str:
    """The ASL with its Task ARNs filled with plausible values (retry numbers as committed), for statelint
    without `--ignore=URI`."""
    from chalicelib.asl import load_definition, placeholders, render_definition

    values = {
        name: f"arn:aws:lambda:us-east-1:123456789012:function:ame-{name.removesuffix('Arn')}"
        for name in placeholders(asl_text)
    }
    return json.dumps(render_definition(load_definition(asl_text), values), indent=2, ensure_ascii=False)


def validate(template: Path, asl_out: Path) -> list[str]:
    """cfn-lint errors (E*) of the packaged template and statelint problems of the rendered ASL."""
    lint = subprocess.run([_tool("cfn-lint"), "--format", "parseable", str(template)], capture_output=True, text=True)
    errors = [line for line in lint.stdout.splitlines() if re.search(r":E\d{4}:", line)]
    if (lint.returncode & 1 or lint.returncode & 2) and not errors:  # bit mask: 2 errors, 4 warnings, 8 info
        errors.append(f"cfn-lint failed: {lint.stderr.strip() or lint.stdout.strip()}")
    asl_out.write_text(render_asl_for_lint((ROOT / ASL_FILE).read_text(encoding="utf-8")), encoding="utf-8")
    state = subprocess.run([_tool("statelint"), str(asl_out)], capture_output=True, text=True)
    if state.returncode != 0 or state.stdout.strip():
        errors.append("statelint: " + (state.stdout.strip() or state.stderr.strip()))
    return errors


# ---------------------------------------------------------------------------------------------- deploy


def for_upload(template: Mapping[str, Any], code_s3_uri: str, asl_location: Mapping[str, str]) -> dict[str, Any]:
    """The packaged template with local CodeUri/DefinitionUri replaced by their S3 copies."""
    out = json.loads(json.dumps(template))
    for resource in out["Resources"].values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            props["CodeUri"] = code_s3_uri
        if resource.get("Type") == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            props["DefinitionUri"] = dict(asl_location)
    return out


def plan_upload(stage: str, package_info: Mapping[str, Any], bucket: str) -> dict[str, Any]:
    """Content-addressed S3 keys for the code, the ASL and the template; writes the S3-ready template."""
    template_path = Path(package_info["template"])
    prefix = f"ame/{stage}"

    def key_for(path: Path, suffix: str) -> str:
        return f"{prefix}/{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}{suffix}"

    zip_path, asl_path = Path(package_info["zip"]), template_path.parent / ASL_FILE
    code_key, asl_key = key_for(zip_path, ".zip"), key_for(asl_path, ".asl.json")
    ready = template_path.with_name("sam.s3.json")
    ready.write_text(
        json.dumps(
            for_upload(
                json.loads(template_path.read_text(encoding="utf-8")),
                f"s3://{bucket}/{code_key}",
                {"Bucket": bucket, "Key": asl_key},
            )
        ),
        encoding="utf-8",
    )
    template_key = key_for(ready, ".template.json")
    return {
        "bucket": bucket,
        "template": ready,
        "template_key": template_key,
        "uploads": [(zip_path, code_key), (asl_path, asl_key), (ready, template_key)],
    }


def deploy(stage: str, plan: Mapping[str, Any], parameters: Mapping[str, str], stack_name: str) -> str:
    import boto3

    s3 = boto3.client("s3")
    cfn = boto3.client("cloudformation")
    bucket = plan["bucket"]
    for path, key in plan["uploads"]:
        s3.upload_file(str(path), bucket, key)
    url = f"https://{bucket}.s3.amazonaws.com/{plan['template_key']}"
    try:
        cfn.describe_stacks(StackName=stack_name)
        change_type = "UPDATE"
    except cfn.exceptions.ClientError:
        change_type = "CREATE"
    name = "ame-" + hashlib.sha256(plan["template_key"].encode()).hexdigest()[:12]
    cfn.create_change_set(
        StackName=stack_name,
        ChangeSetName=name,
        ChangeSetType=change_type,
        TemplateURL=url,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in {"Stage": stage, **parameters}.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        Tags=[{"Key": "app", "Value": "ame"}],
    )
    try:
        cfn.get_waiter("change_set_create_complete").wait(StackName=stack_name, ChangeSetName=name)
    except Exception:
        reason = cfn.describe_change_set(StackName=stack_name, ChangeSetName=name).get("StatusReason", "")
        if "didn't contain changes" in reason or "No updates" in reason:
            return f"{stack_name}: nothing to change"
        raise DeployError(f"change set {name} failed: {reason}") from None
    cfn.execute_change_set(StackName=stack_name, ChangeSetName=name)
    waiter = "stack_create_complete" if change_type == "CREATE" else "stack_update_complete"
    cfn.get_waiter(waiter).wait(StackName=stack_name, WaiterConfig={"Delay": 15, "MaxAttempts": 240})
    return f"{stack_name}: {change_type.lower()} complete"


# ---------------------------------------------------------------------------------------------- cli


def _fail(problems: list[str]) -> int:
    print("deploy: cannot go on:\n" + "\n".join(f"  - {p}" for p in problems), file=sys.stderr)
    return 2


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["package", "validate", "deploy"])
    parser.add_argument("--stage", default=os.environ.get("STAGE") or None)
    parser.add_argument("--out", default=None, help="build folder (default build/<stage>)")
    parser.add_argument("--artifact-bucket", default=os.environ.get("ARTIFACT_BUCKET") or None)
    parser.add_argument("--parameters", default=None, help="default infra/parameters/<stage>.json")
    parser.add_argument("--stack-name", default=None, help="default ame-<stage>")
    parser.add_argument("--no-trim", action="store_true", help="keep boto3/botocore in the zip")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="deploy: package, validate and plan the uploads, then stop before calling AWS",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)

    is_deploy = args.command == "deploy"
    params_file = Path(args.parameters or ROOT / "infra" / "parameters" / f"{args.stage}.json") if args.stage else None
    problems = preflight(
        args.stage,
        os.environ,
        need_credentials=is_deploy and not args.dry_run,
        parameters_file=params_file if is_deploy else None,
        artifact_bucket=args.artifact_bucket,
    )
    if problems:
        return _fail(problems)

    out_dir = Path(args.out or ROOT / "build" / args.stage)
    info = package(args.stage, out_dir, trim=not args.no_trim)
    print(
        f"packaged {info['template']}: deployment.zip {info['zip_bytes'] / 1e6:.1f} MB "
        f"(chalice: {info['zip_bytes_chalice'] / 1e6:.1f} MB; trimmed: {'; '.join(info['removed']) or 'nothing'})"
    )
    if args.command == "validate" or is_deploy:
        errors = validate(Path(info["template"]), out_dir / "statemachine.rendered.json")
        if errors:
            print("validation failed:\n" + "\n".join(errors), file=sys.stderr)
            return 1
        print(f"cfn-lint: no errors in {info['template']}; statelint: {ASL_FILE} is valid")
    if is_deploy:
        stack = args.stack_name or f"ame-{args.stage}"
        plan = plan_upload(args.stage, info, args.artifact_bucket or "DRY-RUN-ARTIFACT-BUCKET")
        from infra import portal_deploy

        parameters = load_parameters(params_file)
        portal_files = portal_deploy.plan() if parameters.get("PortalDomainPrefix") else None
        if args.dry_run:
            print(
                f"dry run: stopping before AWS. Would upload to s3://{plan['bucket']}/: "
                + ", ".join(key for _, key in plan["uploads"])
                + f"; then create and execute a change set on stack {stack} from {plan['template']}"
            )
            if portal_files is not None:
                print(portal_deploy.describe(portal_files))
            return 0
        print(deploy(args.stage, plan, parameters, stack))
        if portal_files is not None:
            print(portal_deploy.upload(stack, os.environ["AWS_DEFAULT_REGION"], portal_files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
