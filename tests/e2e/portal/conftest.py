"""Browser tests of the Portal de Documentos: Playwright (pytest-playwright) driving Debian's Chromium against
the real local stack process (tests/e2e/stack_process.py) on free ports, signing in through its OIDC provider.

Never `playwright install` (no internet here): the browser is /usr/bin/chromium. Outside CI a missing
Chromium or Node skips these tests loudly; under CI=true it fails them.
"""
from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.e2e.stack_process import ROOT, RunningStack, running_stack

from tests.e2e.conftest import CHROMIUM, WIDTHS, require_browser_tooling as _require  # noqa: F401 (re-exported)

PORTAL = ROOT / "portal"
SCREENSHOTS = ROOT / ".local" / "screenshots"
PASSWORD = "senha-local"


def _newest(paths: list[Path]) -> float:
    return max((p.stat().st_mtime for p in paths if p.is_file()), default=0.0)


def build_portal() -> Path:
    """Build portal/dist when it is missing or older than its sources (one builder at a time across workers)."""
    _require(shutil.which("npm") is not None, "npm is not installed; the portal cannot be built")
    lock_path = ROOT / ".local" / "portal-build.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        index = PORTAL / "dist" / "index.html"
        sources = [*PORTAL.joinpath("src").rglob("*"), PORTAL / "build.mjs", PORTAL / "package-lock.json"]
        if not index.is_file() or index.stat().st_mtime < _newest(sources):
            if not (PORTAL / "node_modules" / ".package-lock.json").is_file():
                subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PORTAL, check=True)
            subprocess.run(["npm", "run", "build"], cwd=PORTAL, check=True)
    return PORTAL / "dist"


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory) -> Iterator[RunningStack]:
    """The local stack for one test module; a module's STACK_ENV (e.g. short token lifetimes) is added."""
    build_portal()
    with running_stack(tmp_path_factory.mktemp("portal"), extra_env=getattr(request.module, "STACK_ENV", None)) as running:
        yield running


class ConsoleWatch:
    """Console errors and uncaught exceptions of a page; a test ends with none unless it expects one."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        # The OIDC provider's sign-in page (ame_local, not the portal) has no icon: Chromium asks for /favicon.ico.
        self.allowed: list[re.Pattern[str]] = [re.compile(r"status of 404 .*'url': 'http://127\.0\.0\.1:\d+/favicon\.ico'")]

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture()
def console(page) -> Iterator[ConsoleWatch]:
    watch = ConsoleWatch()
    page.on("console", lambda m: watch.errors.append(f"console.{m.type}: {m.text} @ {m.location}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: watch.errors.append(f"pageerror: {e}"))
    yield watch
    assert watch.unexpected() == [], "console errors on the page"


def sign_in(page, stack: RunningStack, username: str = "ana.credito", path: str = "/portal/") -> None:
    """Open the portal, press Entrar, sign in at the local OIDC provider and come back signed in."""
    page.goto(stack.api_url + path)
    page.get_by_role("button", name="Entrar").click()
    page.get_by_label("Usuário").fill(username)
    page.get_by_label("Senha").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    page.get_by_role("button", name="Sair").wait_for()


def check_axe(page, what: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    assert results.violations_count == 0, f"axe violations on {what}:\n{results.generate_report()}"


def screenshot(page, name: str) -> list[Path]:
    """Save the page at 375 and 1280 px wide (full page) under .local/screenshots/; back to 1280 after."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    saved = []
    for width, size in WIDTHS.items():
        page.set_viewport_size(size)
        path = SCREENSHOTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        saved.append(path)
    page.set_viewport_size(WIDTHS["1280"])
    return saved


def wait_until(page, condition: Callable[[], object], timeout: float = 20.0, interval_ms: int = 50) -> object:
    """Poll a condition until it holds or the deadline passes. It waits through the page, so Playwright keeps
    dispatching the page's events (a time.sleep would block them in the sync API)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s")
        page.wait_for_timeout(interval_ms)
