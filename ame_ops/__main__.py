"""`bin/ame dlq list|show|replay --queue NAME`: dead-letter queues, for on-call engineers.
`bin/ame analytics export|query NAME`: the analytics files under .local/analytics and the named queries.

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
    args = parser.parse_args(argv)
    if args.area == "analytics":
        return _analytics(args, out)

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


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


if __name__ == "__main__":
    sys.exit(main())
