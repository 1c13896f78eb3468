"""/docs in a real browser (Debian's Chromium through Playwright): Swagger UI renders the OpenAPI document,
axe finds 0 violations (page, an opened operation, after "try it"), no console errors, and "try it" reaches
the local stack with a token."""

from __future__ import annotations

import pytest

from tests.e2e.stack_process import running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("docs"), {"AME_LOCAL_WEBHOOK_RECEIVER": "0"}) as running:
        yield running


@pytest.fixture()
def docs_page(browser):
    """pytest-playwright's browser (tests/e2e/conftest.py launches Debian's Chromium and fails under CI=true
    when it is missing): a sync_playwright() of its own clashes with the session's in the same worker."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        yield page
    finally:
        page.close()


def _violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(page)
    return [
        f"{v['id']}: {[n['target'] for n in v['nodes']][:3]} {v['nodes'][0]['html'][:120]}"
        for v in result.response["violations"]
    ]


def test_docs_render_with_no_axe_violations_and_try_it_works(stack, docs_page):
    page = docs_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{stack.api_url}/docs")
    page.wait_for_selector("#operations-ordens-searchOrders", timeout=20_000)
    assert _violations(page) == []

    # Authorize with a token, open "Busca ordens", execute: the stack answers 200.
    token = stack.auth(areas=("CREDITO_PJ",))["Authorization"].split(" ", 1)[1]
    page.click("button.authorize")
    page.fill(".auth-container input[type=text], .auth-container input", token)
    page.click(".auth-btn-wrapper button.authorize")
    page.click(".auth-btn-wrapper button.btn-done")
    page.click("#operations-ordens-searchOrders .opblock-summary-control")
    page.select_option("#operations-ordens-searchOrders tr[data-param-name=status] select", "NO_QUORUM")
    page.click("#operations-ordens-searchOrders button.execute")
    status = page.wait_for_selector(
        "#operations-ordens-searchOrders .live-responses-table tbody .response-col_status", timeout=10_000
    )
    assert status.inner_text().strip().startswith("200")
    assert _violations(page) == []
    assert errors == []
