"""The portal's pure helpers (CPF/CNPJ check digits incl. alphanumeric CNPJ, masks, BRL, São Paulo dates, the
Painel's filters and numbers) run with Node's own test runner: portal/test/*.test.mjs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PORTAL = Path(__file__).resolve().parents[2] / "portal"


def test_portal_format_helpers():
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("node is missing (CI=true: this test must fail, not skip)")
        pytest.skip("node is missing")
    result = subprocess.run(
        [node, "--test", "test/"],
        cwd=PORTAL,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TZ": "UTC"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout and "# pass 7" in result.stdout
