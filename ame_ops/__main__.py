"""`bin/ame dlq list|show|replay --queue NAME`: dead-letter queues, for on-call engineers.
`bin/ame analytics export|query NAME`: the analytics files under .local/analytics and the named queries.
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
