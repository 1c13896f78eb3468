// Orders list: the caller's areas, newest first, filters kept in the URL (a link reproduces them),
// keyset pagination through AME's opaque cursor ("Carregar mais").
import { useEffect, useState } from "preact/hooks";
import { html } from "htm/preact";
import { ApiError, searchOrders } from "../api.js";
import { SessionExpired } from "../auth.js";
import { compactDocument, formatBRL, formatDateTime, formatDocument, startOfDay, startOfNextDay } from "../format.js";
import { label, STATUS } from "../labels.js";
import { navigate, usePageTitle } from "../router.js";

// URL parameter (Portuguese, shareable) → form field.
const FILTERS = ["status", "de", "ate", "referencia", "requisitante", "garantidor"];
const PAGE_SIZE = 20;

export function filtersFromSearch(search) {
  const params = new URLSearchParams(search);
  const out = {};
  for (const name of FILTERS) out[name] = params.get(name) || "";
  return out;
}

function apiQuery(filters) {
  const q = { limit: String(PAGE_SIZE) };
  if (filters.status) q.status = filters.status;
  if (filters.de) q.created_from = startOfDay(filters.de);
  if (filters.ate) q.created_to = startOfNextDay(filters.ate);
  if (filters.referencia) q.external_reference = filters.referencia.trim();
  if (filters.requisitante) q.requester_document = compactDocument(filters.requisitante);
  if (filters.garantidor) q.guarantor_document = compactDocument(filters.garantidor);
  return q;
}

function problemText(error) {
  if (error instanceof ApiError && error.fieldErrors.length) {
    return error.fieldErrors.map((e) => e.message).join("; ");
  }
  return error instanceof ApiError ? error.message : "falha de rede";
}

export function OrdersList({ search }) {
  usePageTitle("Ordens");
  const applied = filtersFromSearch(search);
  const [form, setForm] = useState(applied);
  const [list, setList] = useState({ state: "loading", items: [], next: null, error: null, more: false });

  useEffect(() => {
    setForm(filtersFromSearch(search));
    let cancelled = false;
    setList({ state: "loading", items: [], next: null, error: null, more: false });
    searchOrders(apiQuery(filtersFromSearch(search))).then(
      ({ data }) => !cancelled && setList({ state: "ready", items: data.items, next: data.next_cursor, error: null, more: false }),
      (error) => !cancelled && !(error instanceof SessionExpired) &&
        setList({ state: "error", items: [], next: null, error: `Não foi possível buscar as ordens: ${problemText(error)}.`, more: false }),
    );
    return () => { cancelled = true; };
  }, [search]);

  async function loadMore() {
    setList({ ...list, more: true, error: null });
    try {
      const { data } = await searchOrders({ ...apiQuery(applied), cursor: list.next });
      setList({ state: "ready", items: [...list.items, ...data.items], next: data.next_cursor, error: null, more: false });
    } catch (error) {
      if (error instanceof SessionExpired) return;
      setList({ ...list, more: false, error: `Não foi possível carregar mais: ${problemText(error)}.` });
    }
  }

  function apply(event) {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const name of FILTERS) if (form[name].trim()) params.set(name, form[name].trim());
    const qs = params.toString();
    navigate(`/portal/${qs ? `?${qs}` : ""}`);
  }

  const input = (name, text, type = "text") => html`
    <div class="field">
      <label for=${`filtro-${name}`}>${text}</label>
      <input id=${`filtro-${name}`} type=${type} value=${form[name]} onInput=${(e) => setForm({ ...form, [name]: e.target.value })} />
    </div>`;

  const filtered = FILTERS.some((n) => applied[n]);
  return html`
    <main id="conteudo" tabindex="-1">
      <div class="page-head"><h1>Ordens</h1><a class="button primary" href="/portal/ordens/nova">Nova ordem</a></div>
      <form class="filters" role="search" aria-label="Filtrar ordens" onSubmit=${apply}>
        <div class="field">
          <label for="filtro-status">Situação</label>
          <select id="filtro-status" value=${form.status} onChange=${(e) => setForm({ ...form, status: e.target.value })}>
            <option value="">Todas</option>
            ${Object.entries(STATUS).map(([code, text]) => html`<option value=${code}>${text}</option>`)}
          </select>
        </div>
        ${input("de", "Criadas de", "date")}
        ${input("ate", "Criadas até", "date")}
        ${input("referencia", "Referência externa")}
        ${input("requisitante", "Documento do requisitante")}
        ${input("garantidor", "Documento de garantidor")}
        <div class="actions">
          <button type="submit" class="primary">Filtrar</button>
          ${filtered && html`<a class="button secondary" href="/portal/">Limpar filtros</a>`}
        </div>
      </form>
      <div aria-live="polite">
        ${list.state === "loading" && html`<p class="loading" role="status">Carregando ordens…</p>`}
        ${list.state === "error" && html`<p class="error" role="alert">${list.error}</p>`}
        ${list.state === "ready" && list.items.length === 0 &&
          html`<p class="empty">${filtered ? "Nenhuma ordem com esses filtros." : "Nenhuma ordem ainda. Crie a primeira em Nova ordem."}</p>`}
      </div>
      ${list.items.length > 0 && html`
        <div class="table-wrap" tabindex="0" role="region" aria-label="Ordens encontradas">
          <table class="orders stack">
            <caption>Ordens, mais novas primeiro (${list.items.length}${list.next ? "+" : ""})</caption>
            <thead><tr><th scope="col">Ordem</th><th scope="col">Situação</th><th scope="col">Criada em</th>
              <th scope="col">Requisitante</th><th scope="col">Valor</th><th scope="col">Referência</th></tr></thead>
            <tbody>
              ${list.items.map((o) => html`<tr>
                <th scope="row"><a href=${`/portal/ordens/${encodeURIComponent(o.order_key)}`}>${o.order_key}</a></th>
                <td data-label="Situação"><span class="badge st-${o.status.toLowerCase()}">${label(STATUS, o.status)}</span></td>
                <td data-label="Criada em">${formatDateTime(o.created_at)}</td>
                <td data-label="Requisitante">${formatDocument(o.requester && o.requester.document)}</td>
                <td data-label="Valor" class="num">${formatBRL(o.amount)}</td>
                <td data-label="Referência">${o.external_reference || "—"}</td>
              </tr>`)}
            </tbody>
          </table>
        </div>
        ${list.error && list.state === "ready" && html`<p class="error" role="alert">${list.error}</p>`}
        ${list.next && html`<button type="button" class="secondary more" disabled=${list.more} onClick=${loadMore}>
          ${list.more ? "Carregando…" : "Carregar mais"}</button>`}`}
    </main>`;
}
