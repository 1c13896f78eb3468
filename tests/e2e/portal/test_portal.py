"""The Portal de Documentos in a real browser against the real local stack: every scenario of the portal's
issue (sign-in, QUORUM_MET, NO_QUORUM with reason and missing people, field errors, double submit, what-if,
list and filters, another area's order, keyboard-only creation), axe on every page, no console errors,
screenshots at 375 and 1280 px under .local/screenshots/.

Orders come from the partner simulator's seeded scenarios (ame_local/simulator/scenarios.py).
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from playwright.sync_api import expect

from ame_local.simulator import scenarios as sc
from tests.e2e.portal.conftest import PASSWORD, check_axe, screenshot, sign_in

pytestmark = pytest.mark.e2e

VERDICT_TIMEOUT_MS = 30_000
HTTP_ERROR = r"Failed to load resource: the server responded with a status of {}"


def api_headers(stack) -> dict[str, str]:
    return stack.auth(client="portal-e2e", areas=("CREDITO_PJ",))


def orders_with_reference(stack, reference: str) -> list[dict]:
    response = requests.get(
        f"{stack.api_url}/v1/orders", params={"external_reference": reference}, headers=api_headers(stack), timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def post_order(stack, body: dict) -> str:
    response = requests.post(
        f"{stack.api_url}/v1/orders",
        json=body,
        timeout=10,
        headers={**api_headers(stack), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 202, response.text
    return response.json()["order_key"]


def open_form(page, stack) -> None:
    page.get_by_role("navigation", name="Principal").get_by_role("link", name="Nova ordem").click()
    expect(page.get_by_role("heading", level=1, name="Nova ordem")).to_be_visible()
    expect(page.get_by_label("Produto")).to_be_enabled()  # the area's options arrived


def fill_order(
    page,
    *,
    requester: str,
    requester_type: str = "PJ",
    guarantors: tuple[tuple[str, str], ...] = (),
    amount: str = "R$ 250.000,00",
    reference: str | None = None,
    title: str = "Contrato de teste",
) -> None:
    page.get_by_label("Produto").select_option(sc.PRODUCT_ACTIVE)
    page.get_by_label("Plataforma").select_option(sc.PLATFORM)
    page.get_by_label("Método de assinatura").select_option(sc.SIGNATURE_METHOD)
    page.get_by_label("Valor").fill(amount)
    if reference:
        page.get_by_label("Referência externa (opcional)").fill(reference)
    page.locator("#f-requester-person_type").select_option(requester_type)
    page.locator("#f-requester-document").fill(requester)
    for i, (person_type, document) in enumerate(guarantors):
        page.get_by_role("button", name="Adicionar garantidor").click()
        page.locator(f"#f-guarantors-{i}-person_type").select_option(person_type)
        page.locator(f"#f-guarantors-{i}-document").fill(document)
    page.locator("#f-documents-0-document_type").select_option(sc.DOCUMENT_TYPE_ACTIVE)
    page.locator("#f-documents-0-title").fill(title)


def expect_verdict(page, status_text: str) -> None:
    expect(page.locator(".status-line")).to_contain_text(status_text, timeout=VERDICT_TIMEOUT_MS)


def test_sign_in_shows_the_user_and_sign_out_ends_the_session(stack, page, console):
    page.goto(stack.api_url + "/portal/")
    expect(page.get_by_role("heading", level=1, name="Portal de Documentos")).to_be_visible()
    check_axe(page, "sign-in page")
    screenshot(page, "entrar")
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_label("Usuário")).to_be_visible()
    check_axe(page, "OIDC sign-in page")
    page.get_by_label("Usuário").fill("ana.credito")
    page.get_by_label("Senha").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_text("Ana Credito")).to_be_visible()
    expect(page.get_by_role("heading", level=1, name="Ordens")).to_be_visible()
    expect(page.locator("p.loading")).to_have_count(0)
    check_axe(page, "orders list")
    page.get_by_role("button", name="Sair").click()
    expect(page.get_by_role("button", name="Entrar")).to_be_visible()
    assert page.evaluate("() => Object.keys(sessionStorage).filter(k => k.startsWith('oidc.user'))") == []


def test_create_an_order_through_the_form_and_see_quorum_met(stack, page, console):
    sign_in(page, stack)
    open_form(page, stack)
    check_axe(page, "new order form")
    fill_order(page, requester="11.222.333/0001-81", guarantors=(("PF", "529.982.247-25"),), reference="portal-met")
    expect(page.get_by_label("Valor")).to_have_value("R$ 250.000,00")
    screenshot(page, "nova-ordem")
    with page.expect_request(lambda r: r.url.endswith("/v1/orders") and r.method == "POST") as posted:
        page.get_by_role("button", name="Criar ordem").click()
    body = json.loads(posted.value.post_data)
    assert body["amount"] == "250000.00" and body["requester"] == {"person_type": "PJ", "document": "11222333000181"}
    assert body["guarantors"] == [{"person_type": "PF", "document": "52998224725"}]
    assert posted.value.headers["idempotency-key"].startswith("portal-")
    expect(page).to_have_url(re.compile(r"/portal/ordens/[0-9A-Z]+$"))
    expect_verdict(page, "Quórum atingido")
    requester = page.locator(".party-card").nth(0)
    expect(requester).to_contain_text("Pode assinar")
    expect(requester.locator("table")).to_contain_text("***.***.***-35")  # masked CPFs, never the full one
    expect(requester).not_to_contain_text("11144477735")
    expect(requester.locator(".rules")).to_contain_text("assinam")
    expect(page.locator(".party-card").nth(1)).to_contain_text("Garantidor")
    expect(page.locator(".timeline li")).to_have_count(3, timeout=VERDICT_TIMEOUT_MS)  # RECEIVED, PROCESSING, verdict
    check_axe(page, "order page (QUORUM_MET)")
    screenshot(page, "ordem-quorum")
    assert page.evaluate("() => sessionStorage.getItem('ame.portal.order-draft')") is None  # draft cleared


def test_an_order_without_quorum_shows_the_reason_and_the_missing_people(stack, page, console):
    key = post_order(stack, sc.order_body("SINGLE_NO_SOLO_RULE", external_reference="portal-no-quorum"))
    sign_in(page, stack, path=f"/portal/ordens/{key}")
    expect_verdict(page, "Sem quórum")
    card = page.locator(".party-card").first
    expect(card).to_contain_text("Não pode assinar")
    expect(card).to_contain_text("Nenhuma regra de assinatura pode ser cumprida")
    expect(card.locator("table")).to_contain_text("representante bloqueado")  # Helena, excluded, and why
    expect(card.locator(".rules")).to_contain_text("Regras não cumpridas")
    expect(card.locator(".rules")).to_contain_text("Faltam")
    expect(card.locator(".rules")).to_contain_text("Ajudariam")
    check_axe(page, "order page (NO_QUORUM)")
    screenshot(page, "ordem-sem-quorum")


def test_the_live_status_waits_for_the_change_instead_of_polling(stack, page, console):
    sign_in(page, stack)
    faults = f"{stack.partners_url}/_admin/faults"
    # Poderes answers in 1.5 s (within the partner timeout): the order is still pending when the page opens.
    requests.post(faults, json={"poderes": {"latency_ms": 1500}}, timeout=5).raise_for_status()
    try:
        key = post_order(stack, sc.order_body("QUORUM_AB", external_reference="portal-waiting-read"))
        reads = []
        page.on("request", lambda r: reads.append(r) if urlsplit(r.url).path == f"/v1/orders/{key}" else None)
        page.goto(f"{stack.api_url}/portal/ordens/{key}")
        expect(page.locator(".status-line")).not_to_contain_text("Quórum atingido")  # seen while pending
        expect_verdict(page, "Quórum atingido")
    finally:
        requests.post(f"{faults}/reset", timeout=5).raise_for_status()
    first, *waiting = reads
    assert "if-none-match" not in first.headers
    assert waiting, "the page never asked again"
    for read in waiting:  # each one held by the API until the order changed, with the tag the page had
        assert read.headers["prefer"] == "wait=10" and read.headers["if-none-match"].startswith('"')
    answers = [read.response() for read in reads]
    assert [a.status for a in answers if a is not None].count(200) >= 1
    # One read per status the page saw at most (RECEIVED or PROCESSING, then the verdict), not one per 50 ms.
    assert len(reads) <= 4, [r.headers.get("if-none-match") for r in reads]


def test_a_field_error_is_shown_at_its_field(stack, page, console):
    sign_in(page, stack)
    open_form(page, stack)
    posts = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" and "/v1/orders" in r.url else None)
    # In the browser: a CPF with a wrong check digit never leaves the page.
    fill_order(page, requester="529.982.247-26", requester_type="PF", reference="portal-field-error")
    page.get_by_role("button", name="Criar ordem").click()
    document = page.locator("#f-requester-document")
    expect(document).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-requester-document-erro")).to_contain_text("CPF inválido")
    expect(document).to_be_focused()
    assert posts == []
    # From AME: a product deactivated after the form loaded its options; 422 names product_code.
    console.allow(HTTP_ERROR.format(422))
    document.fill("529.982.247-25")
    page.get_by_label("Produto").evaluate(
        "(s, code) => { const o = document.createElement('option'); o.value = code; o.textContent = 'CCB legado'; s.append(o); }",
        sc.PRODUCT_INACTIVE,
    )
    page.get_by_label("Produto").select_option(sc.PRODUCT_INACTIVE)
    page.get_by_role("button", name="Criar ordem").click()
    expect(page.locator("#f-product_code-erro")).to_be_visible()
    expect(page.get_by_label("Produto")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert").first).to_contain_text("O AME recusou a ordem")
    assert len(posts) == 1
    # Nothing typed is lost.
    expect(page.locator("#f-requester-document")).to_have_value("529.982.247-25")
    expect(page.get_by_label("Referência externa (opcional)")).to_have_value("portal-field-error")
    check_axe(page, "form with field errors")
    screenshot(page, "nova-ordem-erros")
    assert orders_with_reference(stack, "portal-field-error") == []


def test_a_double_submit_and_a_retry_after_a_network_error_create_one_order(stack, page, console):
    sign_in(page, stack)
    open_form(page, stack)
    fill_order(page, requester="12.ABC.345/01DE-35", reference="portal-double")
    keys = []
    page.on(
        "request",
        lambda r: (
            keys.append(r.headers.get("idempotency-key"))
            if r.method == "POST" and r.url.endswith("/v1/orders")
            else None
        ),
    )
    page.get_by_role("button", name="Criar ordem").dblclick()
    expect(page).to_have_url(re.compile(r"/portal/ordens/[0-9A-Z]+$"))
    assert len(set(keys)) == 1
    assert len(orders_with_reference(stack, "portal-double")) == 1

    # The answer is lost on the way back (AME did create the order); the retry reuses the key.
    console.allow(r"net::ERR_FAILED|Failed to load resource")
    open_form(page, stack)
    fill_order(page, requester="12.ABC.345/01DE-35", reference="portal-retry")
    lost = []

    def lose_answer(route):
        if not lost:
            lost.append(route.fetch().status)  # reaches AME, which stores the order
            route.abort("failed")
        else:
            route.continue_()

    page.route("**/v1/orders", lose_answer)
    keys.clear()
    page.get_by_role("button", name="Criar ordem").click()
    expect(page.get_by_role("alert")).to_contain_text("Falha de rede")
    assert lost == [202]
    page.get_by_role("button", name="Criar ordem").click()
    expect(page).to_have_url(re.compile(r"/portal/ordens/[0-9A-Z]+$"))
    assert len(keys) == 2 and len(set(keys)) == 1
    assert len(orders_with_reference(stack, "portal-retry")) == 1


# What the API answers when a partner is down (503) and when the caller is over its rate (429): each page
# says why, counts the Retry-After down on the button, and the retry goes through once it has elapsed.
REFUSALS = {
    503: ("Serviço indisponível", "DEPENDENCY_UNAVAILABLE", "parametrizador não respondeu", "consultar os parceiros"),
    429: ("Muitas requisições", "RATE_LIMITED", "limite de requisições da API excedido", "Muitas ordens enviadas"),
}


@pytest.mark.parametrize("status", sorted(REFUSALS))
def test_a_refusal_says_tente_novamente_and_waits_for_retry_after(stack, page, console, status):
    title, code, detail, says = REFUSALS[status]
    console.allow(HTTP_ERROR.format(status))
    sign_in(page, stack)
    open_form(page, stack)
    reference = f"portal-{status}"
    fill_order(page, requester="11.222.333/0001-81", reference=reference)
    answered = []

    def refused_once(route):
        if not answered:
            answered.append(1)
            route.fulfill(
                status=status,
                headers={"Retry-After": "2", "Content-Type": "application/problem+json"},
                body=json.dumps(
                    {"type": "about:blank", "title": title, "status": status, "code": code, "detail": detail}
                ),
            )
        else:
            route.continue_()

    page.route("**/v1/orders", refused_once)
    page.get_by_role("button", name="Criar ordem").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(says)
    expect(alert).to_contain_text("Tente novamente em 2 s")
    submit = page.locator("button[type=submit]")
    expect(submit).to_be_disabled()
    expect(submit).to_have_text("Criar ordem", timeout=5000)  # Retry-After elapsed
    submit.click()
    expect(page).to_have_url(re.compile(r"/portal/ordens/[0-9A-Z]+$"))
    assert len(orders_with_reference(stack, reference)) == 1


def test_what_if_shows_a_new_verdict_next_to_the_current_one(stack, page, console):
    key = post_order(stack, sc.order_body("QUORUM_AB", external_reference="portal-what-if"))
    sign_in(page, stack, path=f"/portal/ordens/{key}")
    expect_verdict(page, "Quórum atingido")
    card = page.locator(".party-card").first
    card.get_by_text("E se alguém não puder assinar?").click()
    card.get_by_role("checkbox", name=re.compile(r"\*\*\*-09\)$")).check()  # Carla, the only B
    sent = []
    page.on(
        "request", lambda r: sent.append(r) if r.url.endswith("/v1/quorum/simulations") and r.method == "POST" else None
    )
    with page.expect_response(lambda r: r.url.endswith("/v1/quorum/simulations") and r.status == 200) as answered:
        card.get_by_role("button", name="Simular").click()
    compare = card.locator(".compare")
    expect(compare.locator("div").nth(0)).to_contain_text("Pode assinar")
    expect(compare.locator("div").nth(1)).to_contain_text("Não pode assinar")
    # One call, naming the area and the party's role (never a power code); the answer masks CPFs.
    assert len(sent) == 1
    request = json.loads(sent[0].post_data)
    assert request["area_code"] == "CREDITO_PJ" and request["role"] == "REQUESTER" and "power_code" not in request
    answer = answered.value.json()
    assert answer["cpfs_masked"] is True
    assert all(p["cpf"].startswith("***.***.***-") for p in answer["participants"])
    check_axe(page, "order page with what-if")
    screenshot(page, "ordem-e-se")


def test_list_filters_keep_the_url_and_the_link_reproduces_them(stack, page, context, console):
    met = post_order(stack, sc.order_body("QUORUM_AB", ["PF_PHONE_ONLY"], external_reference="portal-list-a"))
    for i in range(21):
        post_order(stack, sc.order_body("NO_ACTIVE_OPERATOR", ["PF_PHONE_ONLY"], external_reference=f"portal-list-{i}"))
    sign_in(page, stack)
    page.get_by_label("Documento de garantidor").fill("301.029.995-89")
    page.get_by_role("button", name="Filtrar").click()
    expect(page).to_have_url(re.compile(r"garantidor=301\.029\.995-89"))
    rows = page.locator("table.orders tbody tr")
    expect(rows).to_have_count(20)
    page.get_by_role("button", name="Carregar mais").click()
    expect(rows).to_have_count(22)
    expect(page.get_by_role("button", name="Carregar mais")).to_have_count(0)
    check_axe(page, "orders list with results")
    screenshot(page, "ordens")

    page.get_by_label("Referência externa").fill("portal-list-a")
    page.get_by_role("button", name="Filtrar").click()
    expect(rows).to_have_count(1)
    url = page.url
    assert parse_qs(urlsplit(url).query) == {"garantidor": ["301.029.995-89"], "referencia": ["portal-list-a"]}

    other = context.new_page()  # a new tab has its own sessionStorage: it signs in, then lands on the link
    sign_in(other, stack, path=url[len(stack.api_url) :])
    assert other.url == url
    expect(other.get_by_label("Referência externa")).to_have_value("portal-list-a")
    expect(other.get_by_label("Documento de garantidor")).to_have_value("301.029.995-89")
    expect(other.locator("table.orders tbody tr")).to_have_count(1)
    other.locator("table.orders").get_by_role("link").first.click()
    expect(other).to_have_url(re.compile(f"/portal/ordens/{met}$"))
    expect(other.get_by_role("heading", level=1)).to_contain_text(met)
    other.close()

    page.get_by_label("Situação").select_option("FAILED")
    page.get_by_role("button", name="Filtrar").click()
    expect(page.get_by_text("Nenhuma ordem com esses filtros.")).to_be_visible()
    check_axe(page, "orders list, empty")


def test_another_areas_order_is_not_found(stack, browser, console):
    key = post_order(stack, sc.order_body("QUORUM_AB", external_reference="portal-other-area"))
    context = browser.new_context(locale="pt-BR", timezone_id="America/Sao_Paulo")
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        sign_in(page, stack, username="bruno.consignado", path=f"/portal/ordens/{key}")
        expect(page.get_by_role("heading", level=1, name="Ordem não encontrada")).to_be_visible()
        check_axe(page, "order not found")
        screenshot(page, "ordem-nao-encontrada")
        page.get_by_role("link", name="Voltar para a lista de ordens").click()
        expect(page.get_by_text("Nenhuma ordem ainda")).to_be_visible()  # CONSIGNADO has none
        check_axe(page, "orders list, empty area")
    finally:
        context.close()
    assert [e for e in errors if not re.search(HTTP_ERROR.format(404), e)] == []


def test_an_order_can_be_created_with_the_keyboard_alone(stack, page, console):
    sign_in(page, stack)
    page.goto(stack.api_url + "/portal/ordens/nova")
    expect(page.get_by_label("Produto")).to_be_enabled()
    kb = page.keyboard

    def choose(select_id: str, value: str) -> None:
        expect(page.locator(f"#{select_id}")).to_be_focused()
        values = page.locator(f"#{select_id} option").evaluate_all("os => os.map(o => o.value)")
        current = page.locator(f"#{select_id}").input_value()
        for _ in range(values.index(value) - values.index(current)):
            kb.press("ArrowDown")
        expect(page.locator(f"#{select_id}")).to_have_value(value)
        kb.press("Tab")

    def type_into(input_id: str, text: str) -> None:
        expect(page.locator(f"#{input_id}")).to_be_focused()
        kb.type(text)
        kb.press("Tab")

    kb.press("Tab")
    expect(page.get_by_role("link", name="Ir para o conteúdo")).to_be_focused()
    kb.press("Enter")
    kb.press("Tab")
    choose("f-area_code", "CREDITO_PJ")
    choose("f-product_code", sc.PRODUCT_ACTIVE)
    choose("f-platform", sc.PLATFORM)
    choose("f-signature_method", sc.SIGNATURE_METHOD)
    type_into("f-amount", "25000000")
    type_into("f-external_reference", "portal-keyboard")
    choose("f-requester-person_type", "PJ")
    type_into("f-requester-document", "11222333000181")
    expect(page.get_by_role("button", name="Adicionar garantidor")).to_be_focused()
    kb.press("Enter")  # adds a guarantor and moves focus to its first field
    choose("f-guarantors-0-person_type", "PF")
    type_into("f-guarantors-0-document", "52998224725")
    expect(page.get_by_role("button", name="Remover garantidor 1")).to_be_focused()
    kb.press("Tab")
    expect(page.get_by_role("button", name="Adicionar garantidor")).to_be_focused()
    kb.press("Tab")
    choose("f-documents-0-document_type", sc.DOCUMENT_TYPE_ACTIVE)
    type_into("f-documents-0-title", "Contrato pelo teclado")
    expect(page.get_by_role("button", name="Remover documento 1")).to_be_focused()
    kb.press("Tab")
    kb.press("Tab")
    expect(page.get_by_role("button", name="Criar ordem")).to_be_focused()
    expect(page.get_by_label("Valor")).to_have_value("R$ 250.000,00")
    kb.press("Enter")
    expect(page).to_have_url(re.compile(r"/portal/ordens/[0-9A-Z]+$"))
    expect_verdict(page, "Quórum atingido")
    assert len(orders_with_reference(stack, "portal-keyboard")) == 1


def test_a_read_only_person_sees_orders_but_no_form_and_no_what_if(stack, browser):
    key = post_order(stack, sc.order_body("QUORUM_AB", external_reference="portal-read-only"))
    context = browser.new_context(locale="pt-BR", timezone_id="America/Sao_Paulo")
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(f"{m.text} @ {m.location}") if m.type == "error" else None)
    try:
        sign_in(page, stack, username="carla.leitura", path=f"/portal/ordens/{key}")
        expect_verdict(page, "Quórum atingido")
        expect(page.get_by_text("E se alguém não puder assinar?")).to_have_count(0)
        page.get_by_role("navigation", name="Principal").get_by_role("link", name="Nova ordem").click()
        expect(page.get_by_role("status")).to_contain_text("somente de consulta")
        expect(page.get_by_role("button", name="Criar ordem")).to_have_count(0)
        check_axe(page, "new order page, read-only person")
    finally:
        context.close()
    assert [e for e in errors if "favicon.ico" not in e] == []


def test_a_session_that_ends_shows_the_expired_page_and_the_form_survives(stack, page, console):
    """The API refuses the access token (401), the portal tries one renewal, the provider refuses the refresh
    token (invalid_grant: the real provider's answer to a token it does not know; the test swaps the token in
    the request): "Sua sessão expirou", and after "Entrar novamente" the form comes back as typed."""
    sign_in(page, stack, path="/portal/ordens/nova")
    expect(page.get_by_label("Produto")).to_be_enabled()
    fill_order(page, requester="11222333000181", amount="123456", reference="portal-expira")
    page.route(
        "**/oidc/token",
        lambda route: route.continue_(
            post_data=(route.request.post_data or "").replace("refresh_token=", "refresh_token=revogado-")
        ),
    )
    page.route(
        "**/v1/orders",
        lambda route: route.fulfill(
            status=401,
            headers={"Content-Type": "application/problem+json"},
            body=json.dumps(
                {
                    "type": "about:blank",
                    "title": "Token expirado",
                    "status": 401,
                    "code": "TOKEN_EXPIRED",
                    "detail": "o token expirou",
                }
            ),
        ),
    )
    console.allow(r"status of 400 .*/oidc/token|status of 401")  # the refused token and refresh
    page.get_by_role("button", name="Criar ordem").click()
    expect(page.get_by_role("heading", level=1, name="Sua sessão expirou")).to_be_visible(timeout=30_000)
    page.unroute("**/oidc/token")
    page.unroute("**/v1/orders")
    check_axe(page, "session expired page")
    screenshot(page, "sessao-expirada")

    page.get_by_role("button", name="Entrar novamente").click()
    page.get_by_label("Usuário").fill("ana.credito")
    page.get_by_label("Senha").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("heading", level=1, name="Nova ordem")).to_be_visible()
    expect(page.get_by_text("Recuperamos o rascunho")).to_be_visible()
    expect(page.get_by_label("Valor")).to_have_value("R$ 1.234,56")
    expect(page.locator("#f-requester-document")).to_have_value("11.222.333/0001-81")
    expect(page.get_by_label("Referência externa (opcional)")).to_have_value("portal-expira")
    expect(page.get_by_label("Produto")).to_have_value(sc.PRODUCT_ACTIVE)
    expect(page.locator("#f-documents-0-title")).to_have_value("Contrato de teste")
    assert orders_with_reference(stack, "portal-expira") == []
