"""`python -m ame_local run`: start the local stack and keep it up until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

READY_PREFIX = "AME local stack ready: "
MAX_LOG_CHARS = 600


class _Truncate(logging.Filter):
    """moto logs a failed state with its whole parse tree; the first lines say what matters."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > MAX_LOG_CHARS:
            record.msg, record.args = message[:MAX_LOG_CHARS] + " [...]", None
        return True


def _quiet_noisy_loggers() -> None:
    logging.getLogger("responses").setLevel(logging.WARNING)  # one line per passthrough request
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the AWS endpoint's request lines
    logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").addFilter(_Truncate())


def run() -> int:
    from ame_local.config import LocalConfig
    from ame_local.stack import LocalStack

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    config = LocalConfig.from_env()
    stack = LocalStack(config)
    try:
        stack.start()
    except Exception:
        logging.getLogger("ame_local").exception("the local stack did not start")
        return 1
    try:
        print(f"API:        {stack.api_url}", flush=True)
        print(f"Metrics:    {stack.api_url}/metrics  (Prometheus format)", flush=True)
        print(f"Partners:   {', '.join(sorted(set(stack.partner_urls.values())))}", flush=True)
        print(f"Database:   {config.database_url}", flush=True)
        print(f"Workflow:   {stack.state_machine_arn}", flush=True)
        if stack.aws_endpoint_url:
            print(f"AWS:        {stack.aws_endpoint_url}  (AME_AWS_ENDPOINT_URL for bin/ame)", flush=True)
        print(READY_PREFIX + str(stack.api_url), flush=True)
        stop.wait()
    finally:
        print("AME local stack stopping", flush=True)
        stack.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ame_local", description="AME's local stack")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the API, the partner simulator and the local AWS")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    _quiet_noisy_loggers()
    if args.command == "run":
        return run()
    return 2


if __name__ == "__main__":
    sys.exit(main())
