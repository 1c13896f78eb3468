"""Cold start: import time of app.py against its runtime dependencies alone, and the deployment package size.

Each figure is the median of several fresh interpreters (so nothing is cached in sys.modules). The floor
imports exactly the third-party packages that `import app` leaves in sys.modules; the goal is app <= 1.2 x
floor. The package is built with `chalice package` and trimmed as `make deploy` trims it; goal <= 15 MB.

    .venv/bin/python bench/bench_cold_start.py [--runs 9] [--no-package]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORT_GOAL_RATIO = 1.2
PACKAGE_GOAL_BYTES = 15 * 1024 * 1024


# What the deployed functions run with (infra/build_template.py sets it): no pydantic plugin scan.
LAMBDA_ENV = {**os.environ, "PYDANTIC_DISABLE_PLUGINS": "__all__"}


def fresh(stmt: str) -> float:
    code = "import time; t = time.perf_counter()\n" + stmt + "\nprint(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env=LAMBDA_ENV)
    return float(out.stdout.strip().splitlines()[-1])


def module_level_dependencies() -> list[str]:
    """Every module that is not AME's own and that `import app` loads, in load order: the floor is what
    loading them costs without AME's module bodies (including pydantic's lazily loaded internals that
    building a model pulls in, which `import pydantic` alone would not count)."""
    code = ("import sys, json; before = list(sys.modules); import app; seen = set(before); "
            "print(json.dumps([m for m in sys.modules if m not in seen "
            "and m.split('.')[0] not in ('app', 'chalicelib', '__main__')]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env=LAMBDA_ENV)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_imports(runs: int) -> dict[str, float]:
    deps = module_level_dependencies()
    floor_stmt = "import importlib\nfor m in %r:\n    try: importlib.import_module(m)\n    except Exception: pass" % deps
    fresh("import app")  # warm the OS page cache and write .pyc files, as a deployed package has them
    fresh(floor_stmt)
    app_times, floor_times = [], []
    for _ in range(runs):  # interleaved so drift on the machine hits both alike
        floor_times.append(fresh(floor_stmt))
        app_times.append(fresh("import app"))
    app_ms, floor_ms = statistics.median(app_times) * 1000, statistics.median(floor_times) * 1000
    tops = sorted({d.split(".")[0] for d in deps if d.split(".")[0] not in sys.stdlib_module_names
                   and not d.startswith("_")})
    return {"deps": tops, "modules": len(deps), "app_ms": app_ms, "floor_ms": floor_ms, "ratio": app_ms / floor_ms}


def bench_package() -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from infra.deploy import package

    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "sa-east-1")}
    with tempfile.TemporaryDirectory() as tmp:
        info = package("dev", Path(tmp), environ=env)
    return {"chalice_bytes": info["zip_bytes_chalice"], "bytes": info["zip_bytes"]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-package", action="store_true")
    args = parser.parse_args()

    imports = bench_imports(args.runs)
    verdict = "ok" if imports["ratio"] <= IMPORT_GOAL_RATIO else "MISSED"
    print(f"app.py loads {imports['modules']} modules that are not AME's, from: {', '.join(imports['deps'])}")
    print(f"import app.py: {imports['app_ms']:.1f} ms median of {args.runs}; dependencies alone (floor): "
          f"{imports['floor_ms']:.1f} ms; ratio {imports['ratio']:.2f} (goal <= {IMPORT_GOAL_RATIO}) {verdict}")
    if not args.no_package:
        size = bench_package()
        verdict = "ok" if size["bytes"] <= PACKAGE_GOAL_BYTES else "MISSED"
        print(f"deployment.zip: {size['bytes'] / 2**20:.2f} MiB as deployed (goal <= 15 MiB) {verdict}; "
              f"{size['chalice_bytes'] / 2**20:.2f} MiB as `chalice package` writes it, before trimming")
    return 0


if __name__ == "__main__":
    sys.exit(main())
