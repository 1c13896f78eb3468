"""The Painel in a real browser against the local stack with past orders generated at start
(AME_LOCAL_ANALYTICS_SEED, as `make run` does) and rolled up by the stack's own analytics export: the charts
load as a separate chunk, every table alternative holds the numbers of GET /v1/insights, filters live in the
URL, the page works with the keyboard alone, axe finds nothing, no console errors (CSP included), screenshots
at 375 and 1280 px under .local/screenshots/.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.portal.conftest import check_axe, screenshot, sign_in

pytestmark = pytest.mark.e2e

# 600 orders over the last 60 days, half of them CREDITO_PJ's (ame_local/analytics_seed.py).
STACK_ENV = {"AME_LOCAL_ANALYTICS_SEED": "600"}
HTTP_ERROR = r"Failed to load resource: the server responded with a status of {}"


def insights(stack, area: str, first: str, last: str) -> dict:
    headers = stack.auth(client="portal-e2e", areas=(area,))
    response = requests.get(
        f"{stack.api_url}/v1/insights",
        params={"area_code": area, "from": first, "to": last},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def default_range() -> tuple[str, str]:
    today = datetime.now(UTC).date()
    return (today - timedelta(days=29)).isoformat(), today.isoformat()


def rolled_up(stack, area: str = "CREDITO_PJ") -> dict:
    """The stack exports (and rolls up) on its schedule soon after start: wait for the seeded orders."""
    first, last = default_range()
    deadline = time.monotonic() + 90
    while True:
        body = insights(stack, area, first, last)
        if body["totals"]["orders"] > 0 and body["refreshed_through"]:
            return body
        assert time.monotonic() < deadline, f"the roll-up never showed the seeded orders: {body['totals']}"
        time.sleep(0.5)  # polling the API with a deadline (no browser page to wait through yet)


def number(text: str) -> float | None:
    """A number as the page shows it (pt-BR: 1.234,5; 66,67 %) back to a float; "—" is None."""
    text = text.strip().replace("%", "").strip()
    if text == "—":
        return None
    return float(text.replace(".", "").replace(",", "."))


def table_rows(page, table_id: str) -> list[list[str]]:
    return page.locator(f"#{table_id} table tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.children].map(c => c.textContent.trim()))"
    )


def br_day(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{d}/{m}/{y}"


def rate(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 2)


def test_painel_shows_the_seeded_orders_and_every_table_matches_the_api(stack, page, console):
    api = rolled_up(stack)
    chunks: list[str] = []
    hosts: set[str] = set()
    page.on("request", lambda r: chunks.append(r.url) if "/portal/assets/painel-" in r.url else None)
    page.on("request", lambda r: hosts.add(r.url.split("/")[2]) if r.url.startswith("http") else None)
    sign_in(page, stack)
    assert chunks == [], "the chart chunk must not load before the Painel is opened"
    page.get_by_role("navigation", name="Principal").get_by_role("link", name="Painel").click()
    expect(page.get_by_role("heading", level=1, name="Painel")).to_be_visible()
    expect(page.get_by_test_id("painel-status")).to_contain_text("Dados atualizados até")
    assert len(chunks) == 1, chunks
    first, last = default_range()
    expect(page).to_have_url(re.compile(r"/portal/painel$"))
    expect(page.get_by_label("Área", exact=True)).to_have_value("CREDITO_PJ")
    expect(page.get_by_label("De", exact=True)).to_have_value(first)
    expect(page.get_by_label("Até", exact=True)).to_have_value(last)
    api = insights(stack, "CREDITO_PJ", first, last)  # the same moment's answer as the page's
    expect(page.locator(".chart canvas").first).to_be_visible()
    assert page.locator(".chart").count() == 8  # orders, 3 quorum groups, reasons, verdict, latency, errors

    totals = dict(
        zip(
            page.locator(".totals dt").all_text_contents(),
            [number(t) for t in page.locator(".totals dd").all_text_contents()],
            strict=True,
        )
    )
    t = api["totals"]
    assert totals == {
        "Ordens": t["orders"],
        "Quórum atingido": t["quorum_met"],
        "Sem quórum": t["no_quorum"],
        "Falhas técnicas": t["failed"],
        "Em andamento": t["in_progress"],
        "Taxa de quórum": rate(t["quorum_rate"]),
    }
    assert t["orders"] > 0 and t["no_quorum"] > 0

    days = [
        [br_day(d["day"]), d["orders"], d["quorum_met"], d["no_quorum"], d["failed"], d["in_progress"]]
        for d in api["days"]
    ]
    shown = [[r[0], *(number(c) for c in r[1:])] for r in table_rows(page, "tabela-ordens")]
    assert shown == days and len(shown) == 30

    for key in ("by_platform", "by_signature_method", "by_product"):
        groups = [
            [g["code"], g["orders"], g["decided"], g["quorum_met"], rate(g["quorum_rate"])]
            for g in api["quorum_rate"][key]
        ]
        shown = [[r[0], *(number(c) for c in r[1:])] for r in table_rows(page, f"tabela-quorum-{key}")]
        assert shown == groups and groups, key

    reasons = [[r["reason"], r["description"], r["parties"]] for r in api["no_quorum_reasons"]]
    shown = [[r[0], r[1], number(r[2])] for r in table_rows(page, "tabela-motivos")]
    assert shown == reasons and reasons

    verdict = [[br_day(d["day"]), d["verdict_ms_p50"], d["verdict_ms_p95"]] for d in api["days"]]
    shown = [[r[0], number(r[1]), number(r[2])] for r in table_rows(page, "tabela-veredito")]
    assert shown == verdict

    partners = [
        [
            br_day(d["day"]),
            d["partner_calls"],
            d["partner_errors"],
            rate(round(d["partner_errors"] / d["partner_calls"], 4)) if d["partner_calls"] else None,
            d["partner_latency_ms_avg"]
            if d["partner_latency_ms_avg"] is None
            else round(d["partner_latency_ms_avg"], 2),
        ]
        for d in api["days"]
    ]
    shown = [[r[0], *(number(c) for c in r[1:])] for r in table_rows(page, "tabela-parceiros")]
    assert shown == partners

    # Tables are closed until asked for; opened, each has a caption and header cells with a scope.
    expect(page.locator("#tabela-ordens table")).to_be_hidden()
    page.locator("#tabela-ordens summary").click()
    expect(page.locator("#tabela-ordens table caption")).to_have_text("Ordens por dia")
    assert page.locator("details.table-alt th:not([scope])").count() == 0
    check_axe(page, "Painel")
    page.locator("#tabela-ordens summary").click()
    for path in screenshot(page, "painel"):
        assert path.stat().st_size > 10_000
    # At 375 px the charts fit the screen (no sideways scrolling of the page).
    page.set_viewport_size({"width": 375, "height": 812})
    expect(page.locator(".chart canvas").first).to_be_visible()
    # The charts resize on the next ResizeObserver callback, not with the viewport: wait for it (5 s at most).
    fits = (
        "() => document.documentElement.scrollWidth <= 375 && document.querySelectorAll('.chart .uplot').length > 0"
        " && [...document.querySelectorAll('.chart .uplot')].every(e => e.getBoundingClientRect().right <= 375)"
    )
    page.wait_for_function(fits, timeout=5_000)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
    widths = page.locator(".chart .uplot").evaluate_all("els => els.map(e => e.getBoundingClientRect().right)")
    assert widths and max(widths) <= 375
    check_axe(page, "Painel at 375 px")
    assert hosts == {stack.api_url.split("/")[2]}, "everything from the stack's own origin (no CDN)"


def test_painel_with_the_keyboard_alone_keeps_the_filters_in_the_url(stack, page, context, console):
    rolled_up(stack, "CAMBIO_PF")
    sign_in(page, stack, username="dora.dados")  # two areas: CREDITO_PJ and CAMBIO_PF
    page.locator("body").focus()
    link = page.get_by_role("navigation", name="Principal").get_by_role("link", name="Painel")
    for _ in range(10):
        page.keyboard.press("Tab")
        if link.evaluate("el => el === document.activeElement"):
            break
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("painel-status")).to_contain_text("CREDITO_PJ")
    area = page.get_by_label("Área", exact=True)
    expect(area.locator("option")).to_have_text(["CREDITO_PJ", "CAMBIO_PF"])
    area.focus()
    page.keyboard.press("ArrowDown")  # a focused <select> changes value with the arrow keys
    expect(area).to_have_value("CAMBIO_PF")
    page.keyboard.press("Tab")
    expect(page.get_by_label("De", exact=True)).to_be_focused()
    first = (datetime.now(UTC).date() - timedelta(days=13)).isoformat()
    last = datetime.now(UTC).date().isoformat()
    page.get_by_label("De", exact=True).fill(first)  # typing a date is keyboard input too
    apply = page.get_by_role("button", name="Aplicar")
    for _ in range(10):  # through the date fields' day/month/year parts to the button
        page.keyboard.press("Tab")
        if apply.evaluate("el => el === document.activeElement"):
            break
    expect(apply).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/portal/painel\?area=CAMBIO_PF&de={first}&ate={last}$"))
    expect(page.get_by_test_id("painel-status")).to_contain_text("CAMBIO_PF")
    api = insights(stack, "CAMBIO_PF", first, last)
    expect(page.locator(".totals dd").first).to_have_text(f"{api['totals']['orders']:,}".replace(",", "."))
    assert len(table_rows(page, "tabela-ordens")) == 14
    # A table alternative opens from the keyboard.
    summary = page.locator("#tabela-veredito summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#tabela-veredito table")).to_be_visible()
    check_axe(page, "Painel (CAMBIO_PF, 14 days, a table open)")
    # The link reproduces the view in another tab (which signs in again: sessionStorage is per tab).
    other = context.new_page()
    sign_in(other, stack, username="dora.dados", path=page.url.removeprefix(stack.api_url))
    expect(other.get_by_test_id("painel-status")).to_contain_text("CAMBIO_PF")
    expect(other.get_by_label("De", exact=True)).to_have_value(first)
    other.close()


def test_painel_of_an_area_outside_the_token_or_a_reversed_range_says_why(stack, page, console):
    console.allow(HTTP_ERROR.format(403))
    console.allow(HTTP_ERROR.format(422))
    sign_in(page, stack, path="/portal/painel?area=CAMBIO_PF")
    expect(page.get_by_role("alert")).to_contain_text("Não foi possível carregar o painel: você não tem acesso")
    expect(page.locator(".chart")).to_have_count(0)
    check_axe(page, "Painel (area not allowed)")
    page.get_by_label("Área", exact=True).select_option("CREDITO_PJ")
    page.get_by_label("De", exact=True).fill("2026-12-01")
    page.get_by_label("Até", exact=True).fill("2026-11-01")
    page.get_by_role("button", name="Aplicar").click()
    expect(page).to_have_url(re.compile(r"\?area=CREDITO_PJ&de=2026-12-01&ate=2026-11-01$"))
    expect(page.get_by_role("alert")).to_contain_text("'from' deve ser anterior ou igual a 'to'")


def test_a_painel_whose_chart_chunk_fails_to_load_says_so_and_a_reload_brings_it(stack, page, console):
    console.allow(r"Failed to load resource: net::ERR_FAILED")
    sign_in(page, stack)
    page.route("**/painel-*.js", lambda route: route.abort())  # the chunk with the Painel and its chart library
    page.get_by_role("link", name="Painel").click()
    expect(page.get_by_role("alert")).to_contain_text("Não foi possível carregar o painel. Verifique a conexão")
    expect(page.get_by_role("heading", name="Painel")).to_be_visible()
    check_axe(page, "Painel (chunk failed)")
    screenshot(page, "painel-falhou")
    page.unroute("**/painel-*.js")
    page.reload()
    expect(page.get_by_role("button", name="Aplicar")).to_be_visible()  # the Painel itself, from its chunk
    expect(page.get_by_role("alert")).to_have_count(0)
