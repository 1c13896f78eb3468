"""Browser tests under tests/e2e share one pytest-playwright session: Debian's Chromium, never `playwright
install` (no internet here). pytest-playwright's `playwright` fixture lives for the whole worker session, so
every browser test uses its `browser`/`page` fixtures rather than a sync_playwright() of its own (a second
sync loop in the same worker fails with "Sync API inside the asyncio loop")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("AME_CHROMIUM", "/usr/bin/chromium")
WIDTHS = {"375": {"width": 375, "height": 812}, "1280": {"width": 1280, "height": 900}}


def require_browser_tooling(condition: bool, message: str) -> None:
    """Outside CI a missing browser or Node skips, loudly; under CI=true it fails."""
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: browser tests must fail, not skip)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    require_browser_tooling(
        Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium"
    )
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--lang=pt-BR"],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "pt-BR", "timezone_id": "America/Sao_Paulo", "viewport": WIDTHS["1280"]}
