"""Run the partner simulator alone: python -m ame_local.simulator --port 8100 [--faults JSON]."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

from ame_local.simulator.server import start_simulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ame_local.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--seed-dir", default=None, help="folder with areas/domains/powers/people/operators.json")
    parser.add_argument(
        "--faults",
        default=None,
        help='JSON, e.g. \'{"poderes": {"latency_ms": 100, "error_rate": 0.2}}\'; change later via /_admin/faults',
    )
    parser.add_argument("--fault-seed", default="0", help="seed of the fault dice (reproducible runs)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    # Before the banner: whoever reads the banner may send SIGTERM at once.
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        faults = json.loads(args.faults) if args.faults else None
        simulator = start_simulator(args.host, args.port, args.seed_dir, faults, args.fault_seed)
    except (OSError, ValueError) as exc:
        print(f"partner simulator could not start: {exc}", file=sys.stderr)
        return 2
    print(f"partner simulator on {simulator.url} (admin: {simulator.url}/_admin/counters); Ctrl-C stops it", flush=True)
    try:
        while not done.wait(0.5):  # short waits keep Ctrl-C responsive
            pass
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
