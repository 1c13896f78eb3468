// Order page: live status, one card per party (why it can or cannot sign), what-if, deliveries, history.
// Live status: a waiting read. The page reads the order once, then asks again with the ETag it holds and
// `Prefer: wait=10`: the server answers the moment the status changes (or 304 after 10 s, and the page asks
// again), so a verdict is on screen within milliseconds of being stored, with one open request instead of
// many. A server that does not wait (no Preference-Applied) is read with backoff instead: ×1.5 from 50 ms,
// at most 250 ms apart until 15 s, then at most 2 s. After the verdict, deliveries are followed every 2 s.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "htm/preact";
import { ApiError, getHistory, getOrder, simulate } from "../api.js";
import { claims, SessionExpired } from "../auth.js";
import { formatBRL, formatDateTime, formatDocument, maskCpf } from "../format.js";
import {
  DELIVERY_STATUS, label, PARTY_REASON, PERSON_TYPE, reasonsText, ROLE, RULE_PROBLEM, STATUS, TERMINAL,
} from "../labels.js";
import { usePageTitle } from "../router.js";

export const WAIT_SECONDS = 10;
export const POLL_FIRST_MS = 50;
export const POLL_FACTOR = 1.5;
export const POLL_CAP_MS = 2000;
export const POLL_FAST_CAP_MS = 250;
export const POLL_FAST_FOR_MS = 15000;
const DELIVERY_POLLS = 15; // after the verdict, follow deliveries for about 30 s

function deliveriesPending(order) {
  const d = order.deliveries;
  if (!d) return order.status === "QUORUM_MET" || order.status === "NO_QUORUM";
  const open = (x) => x && !["DELIVERED", "SENT", "FAILED", "DEAD_LETTERED"].includes(x.status);
  return open(d.webhook) || (d.notifications || []).some(open) || open(d.envelope_ready);
}

function useOrder(orderKey) {
  const [state, setState] = useState({ status: "loading", order: null, history: null, error: null });
  useEffect(() => {
    let stopped = false;
    let timer = null;
    let delay = POLL_FIRST_MS;
    const opened = Date.now();
    let afterVerdict = 0;
    let lastStatus = null;
    let history = null;
    let etag = null;
    let terminal = false;

    function backoff() {
      const cap = Date.now() - opened < POLL_FAST_FOR_MS ? POLL_FAST_CAP_MS : POLL_CAP_MS;
      const wait = delay;
      delay = Math.min(delay * POLL_FACTOR, cap);
      return wait;
    }

    async function tick() {
      try {
        // Waiting reads while the verdict is pending (its changes are announced); plain ones after it.
        const answer = await getOrder(orderKey, { etag, waitSeconds: terminal ? 0 : WAIT_SECONDS });
        if (stopped) return;
        const waited = Boolean(answer.headers.get("Preference-Applied"));
        if (answer.status === 304) {
          if (terminal && ++afterVerdict > DELIVERY_POLLS) return;
          timer = window.setTimeout(tick, terminal ? POLL_CAP_MS : waited ? 0 : backoff());
          return;
        }
        const order = answer.data;
        etag = answer.headers.get("ETag");
        if (order.status !== lastStatus) {
          lastStatus = order.status;
          // The timeline is read when the status changes, never in the live status's way.
          getHistory(orderKey).then(({ data }) => {
            history = data.history || [];
            if (!stopped) setState((s) => ({ ...s, history }));
          }, () => {});
        }
        setState((s) => ({ status: "ready", order, history: history ?? s.history, error: null }));
        terminal = TERMINAL.has(order.status);
        if (terminal) {
          if (!deliveriesPending(order) || ++afterVerdict > DELIVERY_POLLS) return;
          timer = window.setTimeout(tick, POLL_CAP_MS);
          return;
        }
        // A server that waits answers when something changed: ask again at once. Otherwise back off.
        timer = window.setTimeout(tick, waited ? 0 : backoff());
      } catch (error) {
        if (stopped || error instanceof SessionExpired) return;
        if (error instanceof ApiError && error.status === 404) {
          setState({ status: "missing", order: null, history: null, error: null });
          return;
        }
        setState((s) => ({ ...s, status: s.order ? "ready" : "error", error: "Não foi possível ler a ordem agora; tentando de novo." }));
        timer = window.setTimeout(tick, POLL_CAP_MS);
      }
    }
    tick();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [orderKey]);
  return state;
}

// A CPF as the API sent it: whole (an order) or already masked (a what-if without the personal-data scope).
const shownCpf = (cpf) => (String(cpf).startsWith("*") ? cpf : maskCpf(cpf));

/** Who `id` is: a CPF, or in a masked what-if answer a participant's `ref` (two masks can coincide). */
function nameOf(party, id) {
  const p = (party.participants || []).find((x) => x.cpf === id || (x.ref && x.ref === id));
  const shown = shownCpf(p ? p.cpf : id);
  return p && p.name ? `${p.name} (${shown})` : shown;
}

function VerdictBadge({ met }) {
  return met
    ? html`<span class="badge ok">Pode assinar</span>`
    : html`<span class="badge bad">Não pode assinar</span>`;
}

function Participants({ party, critical, caption }) {
  const people = party.participants || [];
  if (!people.length) return html`<p class="empty">Nenhum participante encontrado.</p>`;
  return html`
    <div class="table-wrap" tabindex="0" role="region" aria-label=${caption}>
      <table class="stack">
        <caption>${caption}</caption>
        <thead><tr><th scope="col">Nome</th><th scope="col">CPF</th><th scope="col">Grupos</th>
          <th scope="col">Ressalvas</th><th scope="col">Situação</th></tr></thead>
        <tbody>
          ${people.map((p) => html`
            <tr>
              <th scope="row">${p.name || "Sem nome"} ${critical.has(p.cpf) && html`<span class="badge crit">Signatário crítico</span>`}</th>
              <td data-label="CPF">${maskCpf(p.cpf)}</td>
              <td data-label="Grupos">${(p.groups || []).join(", ") || "—"}</td>
              <td data-label="Ressalvas">${p.restricted ? reasonsText(p.reasons) || "com ressalva" : "Nenhuma"}</td>
              <td data-label="Situação">${p.active ? "Ativo" : `Inativo: ${reasonsText(p.reasons) || "motivo não informado"}`}</td>
            </tr>`)}
        </tbody>
      </table>
    </div>`;
}

function Rules({ party }) {
  const sets = party.signer_sets || [];
  const failed = party.failed_rules || [];
  const skipped = party.skipped_rules || [];
  return html`
    <div class="rules">
      <h4>Regras cumpridas</h4>
      ${sets.length === 0 ? html`<p class="empty">Nenhuma regra cumprida.</p>` : html`<ul>
        ${sets.map((s) => html`<li>Regra <strong>${s.rule_id}</strong>: assinam ${s.cpfs.map((c) => nameOf(party, c)).join(" e ")}.</li>`)}
      </ul>`}
      ${failed.length > 0 && html`<h4>Regras não cumpridas</h4><ul>
        ${failed.map((r) => html`<li>Regra <strong>${r.rule_id}</strong>: ${`${label(RULE_PROBLEM, r.problem)} (precisa de ${r.required}, há ${r.fillable}).`}
          <ul>${(r.shortfalls || []).map((s) => html`<li>
            Faltam <strong>${s.short}</strong> ${`para ${s.requirements.map((q) => `${q.min_signers} do grupo ${q.group}`).join(" + ")}${
              s.available.length ? `; disponíveis: ${s.available.map((c) => nameOf(party, c)).join(", ")}` : "; ninguém disponível"}.`}
            ${s.would_help.length > 0 && html`<br /><span class="help">${`Ajudariam, se pudessem assinar: ${
              s.would_help.map((w) => `${nameOf(party, w.cpf)} — ${reasonsText(w.reasons)}`).join("; ")}.`}</span>`}
          </li>`)}</ul></li>`)}
      </ul>`}
      ${skipped.length > 0 && html`<h4>Regras que não se aplicam a este valor</h4><ul>
        ${skipped.map((r) => html`<li>Regra <strong>${r.rule_id}</strong>: vale só até ${formatBRL(r.max_amount)}.</li>`)}
      </ul>`}
    </div>`;
}

function WhatIf({ order, party, index }) {
  const [unavailable, setUnavailable] = useState([]);
  const [result, setResult] = useState({ state: "idle", data: null, error: null });
  const people = party.participants || [];
  const toggle = (cpf) => setUnavailable((u) => (u.includes(cpf) ? u.filter((c) => c !== cpf) : [...u, cpf]));
  async function run(event) {
    event.preventDefault();
    setResult({ state: "loading", data: null, error: null });
    try {
      const { data } = await simulate({
        area_code: order.area_code, company: party.document, role: party.role,
        amount: order.amount, platform: order.platform, unavailable,
      });
      setResult({ state: "ready", data, error: null });
    } catch (error) {
      if (error instanceof SessionExpired) return;
      const wait = error instanceof ApiError && (error.status === 503 || error.status === 429) ? ` Tente novamente em ${error.retryAfter ?? 5} s.` : "";
      setResult({ state: "error", data: null, error: `A simulação falhou: ${error.message}.${wait}` });
    }
  }
  const base = `whatif-${index}`;
  return html`
    <details class="whatif">
      <summary>E se alguém não puder assinar?</summary>
      <form onSubmit=${run}>
        <fieldset>
          <legend>Marque quem estaria indisponível</legend>
          ${people.map((p, i) => html`
            <div class="check">
              <input type="checkbox" id=${`${base}-${i}`} checked=${unavailable.includes(p.cpf)} onChange=${() => toggle(p.cpf)} />
              <label for=${`${base}-${i}`}>${p.name || "Sem nome"} (${maskCpf(p.cpf)})</label>
            </div>`)}
        </fieldset>
        <button type="submit" class="secondary" disabled=${result.state === "loading"}>Simular</button>
      </form>
      <div aria-live="polite">
        ${result.state === "loading" && html`<p class="loading">Simulando…</p>`}
        ${result.state === "error" && html`<p class="error" role="alert">${result.error}</p>`}
        ${result.state === "ready" && html`
          <div class="compare">
            <div><h4>Hoje</h4><${VerdictBadge} met=${party.quorum_met} />
              <p>${party.quorum_met ? "Quórum atingido." : label(PARTY_REASON, party.reason)}</p></div>
            <div><h4>Na simulação</h4><${VerdictBadge} met=${result.data.quorum_met} />
              <p>${result.data.quorum_met ? "Quórum atingido." : label(PARTY_REASON, result.data.reason)}</p>
              ${(result.data.signer_sets || []).length > 0 && html`<p>Assinariam: ${result.data.signer_sets
                .map((s) => `regra ${s.rule_id}: ${s.cpfs.map((c) => nameOf(result.data, c)).join(" e ")}`).join("; ")}.</p>`}
            </div>
          </div>`}
      </div>
    </details>`;
}

function PartyCard({ order, party, index, canSimulate }) {
  const critical = new Set(party.critical_signers || []);
  const docLabel = party.person_type === "PF" ? "CPF" : "CNPJ";
  const title = `${label(ROLE, party.role)} — ${docLabel} ${formatDocument(party.document)}`;
  return html`
    <section class="card party-card" aria-labelledby=${`parte-${index}`}>
      <h3 id=${`parte-${index}`}>${title}</h3>
      <p class="verdict"><${VerdictBadge} met=${party.quorum_met} />
        ${party.quorum_met ? " Quórum atingido." : ` ${label(PARTY_REASON, party.reason)}`}</p>
      <${Participants} party=${party} critical=${critical} caption=${`Participantes de ${label(ROLE, party.role).toLowerCase()} ${formatDocument(party.document)}`} />
      ${critical.size > 0 && html`<p>${`Signatários críticos (sem eles nenhuma regra fica cumprida): ${
        [...critical].map((c) => nameOf(party, c)).join(", ")}.`}</p>`}
      ${party.person_type === "PJ" && html`<${Rules} party=${party} />`}
      ${party.person_type === "PJ" && canSimulate && party.power_code &&
        html`<${WhatIf} order=${order} party=${party} index=${index} />`}
    </section>`;
}

function Deliveries({ order }) {
  const d = order.deliveries;
  if (!TERMINAL.has(order.status)) return html`<p class="empty">As entregas começam depois do veredito.</p>`;
  if (!d) return html`<p class="loading">Entregas ainda não registradas.</p>`;
  const status = (x) => (x ? label(DELIVERY_STATUS, x.status) : "—");
  return html`
    <ul class="deliveries">
      <li><strong>Webhook:</strong> ${d.webhook
        ? `${status(d.webhook)}${d.webhook.attempts ? `, ${d.webhook.attempts} tentativa(s)` : ""}${d.webhook.delivered_at ? `, em ${formatDateTime(d.webhook.delivered_at)}` : ""}${d.webhook.last_error ? `; último erro: ${d.webhook.last_error}` : ""}`
        : "a área não tem webhook"}</li>
      <li><strong>Notificações:</strong> ${(d.notifications || []).length === 0 ? "nenhuma" : html`<ul>
        ${d.notifications.map((n) => html`<li>${n.channel === "SMS" ? "SMS" : "E-mail"} para ${n.cpf ? maskCpf(n.cpf) : "—"}: ${status(n)}</li>`)}
      </ul>`}</li>
      <li><strong>Envelope pronto:</strong> ${d.envelope_ready ? status(d.envelope_ready) : "não se aplica (só com quórum)"}</li>
    </ul>`;
}

// A verdict's detail is the API's technical summary (the cards say it in Portuguese); a waiting status's
// detail ("aguardando parceiro ...") is what people need to read.
const showDetail = (h) => h.detail && !TERMINAL.has(h.status) && h.detail.toLowerCase() !== label(STATUS, h.status).toLowerCase();

function History({ history }) {
  if (history === null) return html`<p class="loading" role="status">Carregando histórico…</p>`;
  if (!history.length) return html`<p class="empty">Sem histórico.</p>`;
  return html`<ol class="timeline">
    ${history.map((h) => html`<li><time datetime=${h.at}>${formatDateTime(h.at)}</time>
      <strong>${label(STATUS, h.status)}</strong>${showDetail(h) ? ` — ${h.detail}` : ""}</li>`)}
  </ol>`;
}

export function OrderPage({ orderKey }) {
  usePageTitle(`Ordem ${orderKey}`);
  const { status, order, history, error } = useOrder(orderKey);
  const { scopes } = claims();
  const headingRef = useRef(null);
  if (status === "loading") {
    return html`<main id="conteudo" tabindex="-1"><h1>Ordem</h1><p class="loading" role="status">Carregando a ordem…</p></main>`;
  }
  if (status === "missing") {
    return html`<main id="conteudo" tabindex="-1"><h1>Ordem não encontrada</h1>
      <p role="alert">Não há ordem ${orderKey} nas áreas que você atende.</p>
      <p><a href="/portal/">Voltar para a lista de ordens</a></p></main>`;
  }
  if (status === "error") {
    return html`<main id="conteudo" tabindex="-1"><h1>Ordem</h1><p class="error" role="alert">${error}</p></main>`;
  }
  const parties = (order.result && order.result.parties) || [];
  const terminal = TERMINAL.has(order.status);
  return html`
    <main id="conteudo" tabindex="-1">
      <h1 ref=${headingRef}>Ordem <span class="key">${order.order_key}</span></h1>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <section class="card status-card" aria-labelledby="situacao">
        <h2 id="situacao">Situação</h2>
        <p class="status-line" role="status" aria-live="polite" data-status=${order.status}>
          <span class="badge st-${order.status.toLowerCase()}">${label(STATUS, order.status)}</span>
          ${!terminal && html` <span class="loading">atualizando…</span>`}
        </p>
        ${!terminal && order.status_detail && html`<p class="detail">${order.status_detail}</p>`}
        <dl class="summary">
          <div><dt>Área</dt><dd>${order.area_code}</dd></div>
          <div><dt>Produto</dt><dd>${order.product_code}</dd></div>
          <div><dt>Plataforma</dt><dd>${order.platform}</dd></div>
          <div><dt>Método</dt><dd>${order.signature_method}</dd></div>
          <div><dt>Valor</dt><dd>${formatBRL(order.amount)}</dd></div>
          <div><dt>Referência externa</dt><dd>${order.external_reference || "—"}</dd></div>
          <div><dt>Criada por</dt><dd>${order.created_by}</dd></div>
          <div><dt>Criada em</dt><dd>${formatDateTime(order.created_at)}</dd></div>
        </dl>
      </section>
      <section aria-labelledby="partes">
        <h2 id="partes">Partes</h2>
        ${!terminal && html`<p class="loading">O veredito aparece aqui assim que a avaliação terminar.</p>`}
        ${terminal && parties.length === 0 && html`<p class="empty">Sem avaliação das partes${order.status === "FAILED" ? " (falha técnica)" : ""}.</p>`}
        <div class="cards">
          ${parties.map((p, i) => html`<${PartyCard} order=${order} party=${p} index=${i}
            canSimulate=${scopes.includes("ame:quorum:simulate")} />`)}
        </div>
      </section>
      <div class="two">
        <section class="card" aria-labelledby="entregas"><h2 id="entregas">Entregas</h2><${Deliveries} order=${order} /></section>
        <section class="card" aria-labelledby="historico"><h2 id="historico">Histórico</h2><${History} history=${history} /></section>
      </div>
    </main>`;
}
