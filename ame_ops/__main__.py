"""`bin/ame dlq list|show|replay --queue NAME`: dead-letter queues, for on-call engineers.
`bin/ame analytics export|query NAME`: the analytics files under .local/analytics and the named queries.
`bin/ame retention plan|run`, `bin/ame archive show ORDER_KEY`, `bin/ame privacy report --cpf CPF`: the data
lifecycle (docs/data-lifecycle.md).
`bin/ame simulations list [--area X] [--client Y] [--company CNPJ] [--since 24h|ISO] [--limit N] [--json]`:
the what-if audit, newest first (docs/security.md).

AWS credentials and region come from the usual boto3 sources; AME_AWS_ENDPOINT_URL points at another
endpoint (the local stack prints its own), AME_QUEUE_PREFIX at a stage's queue names.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from chalicelib.queues import QUEUES


def _sqs() -> Any:
    import boto3

    endpoint = os.environ.get("AME_AWS_ENDPOINT_URL") or None
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    if endpoint:  # the local stack's emulation takes any credentials
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    return boto3.client("sqs", endpoint_url=endpoint, region_name=region)


def main(argv: list[str] | None = None, out: Any = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="ame", description="AME operator commands")
    commands = parser.add_subparsers(dest="area", required=True)
    dlq = commands.add_parser("dlq", help="dead-letter queues").add_subparsers(dest="action", required=True)
    for action, help_text in (
        ("list", "messages waiting in a DLQ"),
        ("show", "one message in full"),
        ("replay", "move messages back to their queue"),
    ):
        p = dlq.add_parser(action, help=help_text)
        p.add_argument("--queue", required=True, choices=sorted(QUEUES))
        if action == "show":
            p.add_argument("message_id")
        if action == "replay":
            group = p.add_mutually_exclusive_group(required=True)
            group.add_argument("--id", action="append", dest="ids", help="a message id (repeatable)")
            group.add_argument("--all", action="store_true")
    analytics = commands.add_parser("analytics", help="analytics export and named queries (docs/analytics.md)")
    analytics_actions = analytics.add_subparsers(dest="action", required=True)
    exporter = analytics_actions.add_parser("export", help="write the Parquet files under .local/analytics")
    exporter.add_argument("--full", action="store_true", help="rewrite every partition, not only changed days")
    exporter.add_argument("--output", help="folder (default .local/analytics)")
    query = analytics_actions.add_parser("query", help="run a named query with DuckDB")
    query.add_argument("name", help="a file name under analytics/queries without .sql, or 'list'")
    query.add_argument("--input", help="folder with the exported files (default .local/analytics)")
    retention = commands.add_parser("retention", help="data past its retention period (docs/data-lifecycle.md)")
    retention_actions = retention.add_subparsers(dest="action", required=True)
    retention_actions.add_parser("plan", help="dry run: rows eligible per table and the oldest of each")
    retention_actions.add_parser("run", help="run the purge job once (archive, then delete)")
    archive = commands.add_parser("archive", help="the retention archive").add_subparsers(dest="action", required=True)
    archive.add_parser("show", help="one archived order, read back from its object").add_argument("order_key")
    privacy = commands.add_parser("privacy", help="LGPD access report").add_subparsers(dest="action", required=True)
    report = privacy.add_parser("report", help="where a person appears, what is held, anonymised or archived")
    report.add_argument("--cpf", required=True)
    report.add_argument("--no-archive", action="store_true", help="do not read the archive objects")
    simulations = commands.add_parser("simulations", help="the what-if audit (docs/security.md)")
    simulations_actions = simulations.add_subparsers(dest="action", required=True)
    listing = simulations_actions.add_parser("list", help="simulations answered, newest first")
    listing.add_argument("--area", dest="area_code", help="only this area code")  # `area` names the command
    listing.add_argument("--client", help="only this caller (client_id, or portal:<user>)")
    listing.add_argument("--company", help="only this CNPJ (formatted or not)")
    listing.add_argument("--since", help="30m, 24h, 7d, or an ISO date/instant (UTC when no zone)")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    listing.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    args = parser.parse_args(argv)
    if args.area == "analytics":
        return _analytics(args, out)
    if args.area == "simulations":
        return _simulations(args, out)
    if args.area in ("retention", "archive", "privacy"):
        return _lifecycle(args, out)

    from ame_ops.dlq import DeadLetters

    letters = DeadLetters(_sqs(), args.queue, os.environ.get("AME_QUEUE_PREFIX", ""))
    if args.action == "list":
        messages = letters.peek()
        json.dump(
            {"queue": args.queue, "depth": letters.depth(), "messages": [m.summary() for m in messages]}, out, indent=2
        )
    elif args.action == "show":
        message = letters.show(args.message_id)
        if message is None:
            print(f"message {args.message_id} is not in the {args.queue} DLQ", file=sys.stderr)
            return 1
        json.dump({**message.summary(), "body": message.body, "attributes": message.attributes}, out, indent=2)
    else:
        replayed = letters.replay(None if args.all else args.ids)
        json.dump({"queue": args.queue, "replayed": replayed}, out, indent=2)
    out.write("\n")
    return 0


def _analytics(args: Any, out: Any) -> int:
    from pathlib import Path

    from ame_ops import analytics

    if args.action == "export":
        output = Path(args.output) if args.output else analytics.DEFAULT_OUTPUT
        json.dump(analytics.export(analytics.database_url(), output, full=args.full), out, indent=2)
        out.write("\n")
        return 0
    if args.name == "list":
        out.write("\n".join(analytics.query_names()) + "\n")
        return 0
    if args.name not in analytics.query_names():
        print(f"no named query {args.name!r}; known: {', '.join(analytics.query_names())}", file=sys.stderr)
        return 2
    columns, rows = analytics.run_query(args.name, Path(args.input) if args.input else analytics.DEFAULT_OUTPUT)
    widths = [max([len(c)] + [len(_cell(r[i])) for r in rows]) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths)) + "\n")
    for row in rows:
        out.write("  ".join(_cell(v).ljust(w) for v, w in zip(row, widths)) + "\n")
    out.write(f"({len(rows)} rows)\n")
    return 0


def _lifecycle(args: Any, out: Any) -> int:
    from ame_ops import retention
    from ame_ops.analytics import database_url

    url = database_url()
    if args.area == "retention":
        answer = retention.plan(url) if args.action == "plan" else retention.run(url)
    elif args.area == "archive":
        answer = retention.archive_show(url, args.order_key)
        if answer is None:
            print(f"order {args.order_key} is not in the archive", file=sys.stderr)
            return 1
    else:
        from chalicelib.domain.documents import InvalidDocument, normalize_cpf

        try:
            cpf = normalize_cpf(args.cpf)
        except InvalidDocument as exc:
            print(f"--cpf: {exc}", file=sys.stderr)
            return 2
        answer = retention.privacy_report(url, cpf, scan_archive=not args.no_archive)
    json.dump(answer, out, indent=2, ensure_ascii=False)
    out.write("\n")
    return 0


def _simulations(args: Any, out: Any) -> int:
    from ame_ops import simulations
    from ame_ops.analytics import database_url

    try:
        since = simulations.parse_since(args.since) if args.since else None
    except ValueError:
        print(f"--since {args.since!r}: use 30m, 24h, 7d or an ISO 8601 date/instant", file=sys.stderr)
        return 2
    if args.limit < 1:
        print("--limit must be at least 1", file=sys.stderr)
        return 2
    company = None
    if args.company:
        from chalicelib.domain.documents import InvalidDocument, normalize_cnpj

        try:
            company = normalize_cnpj(args.company)
        except InvalidDocument as exc:
            print(f"--company {args.company!r}: {exc}", file=sys.stderr)
            return 2
    found = simulations.list_simulations(
        database_url(), area_code=args.area_code, client_id=args.client, company=company, since=since, limit=args.limit
    )
    rows = [simulations.as_json(entry) for entry in found]
    if args.json:
        json.dump({"simulations": rows}, out, indent=2, ensure_ascii=False)
        out.write("\n")
        return 0
    columns = simulations.COLUMNS
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip() + "\n")
    for r in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n")
    out.write(f"({len(rows)} simulations)\n")
    return 0


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


if __name__ == "__main__":
    sys.exit(main())
