"""`bin/ame dlq list|show|replay --queue NAME`: dead-letter queues, for on-call engineers.

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
    for action, help_text in (("list", "messages waiting in a DLQ"), ("show", "one message in full"),
                              ("replay", "move messages back to their queue")):
        p = dlq.add_parser(action, help=help_text)
        p.add_argument("--queue", required=True, choices=sorted(QUEUES))
        if action == "show":
            p.add_argument("message_id")
        if action == "replay":
            group = p.add_mutually_exclusive_group(required=True)
            group.add_argument("--id", action="append", dest="ids", help="a message id (repeatable)")
            group.add_argument("--all", action="store_true")
    args = parser.parse_args(argv)

    from ame_ops.dlq import DeadLetters

    letters = DeadLetters(_sqs(), args.queue, os.environ.get("AME_QUEUE_PREFIX", ""))
    if args.action == "list":
        messages = letters.peek()
        json.dump({"queue": args.queue, "depth": letters.depth(),
                   "messages": [m.summary() for m in messages]}, out, indent=2)
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


if __name__ == "__main__":
    sys.exit(main())
