// Painel: one of the person's areas over a range of days, from GET /v1/insights (the daily roll-up kept by
// the analytics export). Filters live in the URL (?area=&de=&ate=), so a link reproduces the view.
//
// This module and uPlot are a separate chunk: main.js imports it only when the Painel is opened. Every chart
// has a table with the same numbers (in a <details>, "Ver tabela"), and the canvas itself is one image with a
// text summary for screen readers. uPlot sizes its elements through the CSSOM (element.style), which a CSP
// without 'unsafe-inline' allows; its stylesheet is bundled in the app's CSS file.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "htm/preact";
import uPlot from "uplot";
import { ApiError, getInsights } from "../api.js";
import { claims, SessionExpired } from "../auth.js";
import {
  errorRate,
  formatDay,
  formatDecimal,
  formatDuration,
  formatInt,
  formatRate,
  insightsQuery,
  MAX_DAYS,
  painelFilters,
  painelSearch,
} from "../insights.js";
import { navigate, usePageTitle } from "../router.js";

// Colours with at least 3:1 against white (WCAG 1.4.11), told apart also by dashes and markers.
const C = { blue: "#0b4f8a", green: "#14632c", red: "#b3261e", amber: "#8a5a00", purple: "#5b2a9e", grey: "#4a5561" };
const GRID = "#e3e8ee";
const FONT = '12px system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Roboto, sans-serif';
// Whole steps for counts (no "2,5 ordens" on an axis).
const COUNT_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000, 100000, 200000, 500000];
const GROUPS = [
  ["by_platform", "Plataforma"],
  ["by_signature_method", "Método de assinatura"],
  ["by_product", "Produto"],
];

function problemText(error) {
  if (error instanceof ApiError && error.status === 403) return "você não tem acesso a esta área";
  if (error instanceof ApiError && error.fieldErrors.length) return error.fieldErrors.map((e) => e.message).join("; ");
  return error instanceof ApiError ? error.message : "falha de rede";
}

function axis(values, extra = {}) {
  return { stroke: C.grey, font: FONT, grid: { stroke: GRID, width: 1 }, ticks: { stroke: GRID, width: 1 }, values, ...extra };
}

/** Days on the x axis: index 0..n-1, labelled dd/mm, whole-day steps only. */
function dayAxis(days) {
  return axis((u, splits) => splits.map((i) => (Number.isInteger(i) && days[i] ? formatDay(days[i].day) : "")), {
    space: 48,
    incrs: [1, 2, 3, 7, 14, 28, 56, 91, 182],
  });
}

function line(label, stroke, extra = {}) {
  return { label, stroke, width: 2, points: { show: (u) => u.data[0].length <= 45, size: 5, fill: stroke }, spanGaps: false, ...extra };
}

/** One uPlot canvas, as wide as its box, redrawn when the box changes width. */
function Chart({ source, summary, options, data, height = 220 }) {
  const box = useRef(null);
  // Drawn again only for a new answer (`source`) or height, not on every render of the page (typing in the filters).
  useEffect(() => {
    const el = box.current;
    let width = Math.max(260, el.clientWidth);
    const plot = new uPlot({ ...options, width, height, legend: { show: false } }, data, el);
    let frame = 0;
    const observer = new ResizeObserver(() => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => {
        const next = Math.max(260, el.clientWidth);
        if (next !== width) {
          width = next;
          plot.setSize({ width, height });
        }
      });
    });
    observer.observe(el);
    return () => {
      cancelAnimationFrame(frame);
      observer.disconnect();
      plot.destroy();
    };
  }, [source, height]);
  return html`<div class="chart" ref=${box} role="img" aria-label=${summary}></div>`;
}

/** The chart's key: coloured swatches (CSS classes, no inline style) with the series names. */
function Legend({ items }) {
  return html`<ul class="legend">
    ${items.map(([text, swatch]) => html`<li><span class=${`swatch ${swatch}`} aria-hidden="true"></span>${text}</li>`)}
  </ul>`;
}

/** A table alternative to a chart: the same numbers, in a <details> that the keyboard opens with Enter. */
function TableAlternative({ id, caption, head, rows }) {
  return html`<details class="table-alt" id=${id}>
    <summary>Ver tabela: ${caption}</summary>
    <div class="table-wrap" tabindex="0" role="region" aria-label=${`Tabela: ${caption}`}>
      <table>
        <caption>${caption}</caption>
        <thead><tr>${head.map((h, i) => html`<th scope="col" class=${i ? "num" : undefined}>${h}</th>`)}</tr></thead>
        <tbody>
          ${rows.map(([first, ...cells]) => html`<tr><th scope="row">${first}</th>${cells.map((c) => html`<td class="num">${c}</td>`)}</tr>`)}
        </tbody>
      </table>
    </div>
  </details>`;
}

function OrdersPerDay({ body }) {
  const days = body.days;
  const data = [days.map((_, i) => i), ...["orders", "quorum_met", "no_quorum", "failed"].map((k) => days.map((d) => d[k]))];
  const options = {
    scales: { x: { time: false } },
    axes: [dayAxis(days), axis((u, splits) => splits.map((v) => formatInt(v)), { size: 48, incrs: COUNT_STEPS })],
    series: [
      {},
      line("Ordens", C.blue, { width: 3 }),
      line("Quórum atingido", C.green),
      line("Sem quórum", C.red, { dash: [6, 4] }),
      line("Falhas técnicas", C.amber, { dash: [2, 3] }),
    ],
  };
  const busiest = days.reduce((a, d) => (d.orders > a.orders ? d : a), days[0]);
  return html`<section class="card panel-card" aria-labelledby="painel-ordens">
    <h2 id="painel-ordens">Ordens por dia</h2>
    <${Chart} source=${body} options=${options} data=${data}
      summary=${`Gráfico de linhas: ordens por dia, ${formatInt(body.totals.orders)} no período; dia com mais ordens ${formatDay(busiest.day, true)} (${formatInt(busiest.orders)}). Os números estão na tabela a seguir.`} />
    <${Legend} items=${[["Ordens", "sw-blue"], ["Quórum atingido", "sw-green"], ["Sem quórum", "sw-red dashed"], ["Falhas técnicas", "sw-amber dotted"]]} />
    <${TableAlternative} id="tabela-ordens" caption="Ordens por dia"
      head=${["Dia", "Ordens", "Quórum atingido", "Sem quórum", "Falhas técnicas", "Em andamento"]}
      rows=${days.map((d) => [formatDay(d.day, true), formatInt(d.orders), formatInt(d.quorum_met), formatInt(d.no_quorum), formatInt(d.failed), formatInt(d.in_progress)])} />
  </section>`;
}

/** Horizontal bars over categories (group codes or reasons), first at the top: readable codes at 375 px too.
 * The category scale is the index 0..n-1, drawn vertically; the value scale runs along the bottom. */
function barOptions(labels, color, valueText, valueRange, valueIncrs) {
  const n = labels.length;
  const longest = Math.max(...labels.map((l) => l.length));
  return {
    padding: [4, 20, 0, 0],
    scales: { x: { time: false, ori: 1, dir: -1, range: () => [-0.5, n - 0.5] }, y: { ori: 0, range: valueRange } },
    axes: [
      axis((u, splits) => splits.map((i) => (Number.isInteger(i) && labels[i] !== undefined ? labels[i] : "")), {
        side: 3,
        incrs: [1],
        space: 10,
        gap: 6,
        size: Math.min(190, 24 + 7.4 * longest),
        grid: { show: false },
      }),
      axis((u, splits) => splits.map(valueText), { side: 2, size: 36, space: 56, ...(valueIncrs ? { incrs: valueIncrs } : {}) }),
    ],
    series: [{}, { label: "valor", stroke: color, fill: `${color}cc`, width: 1, points: { show: false }, paths: uPlot.paths.bars({ size: [0.6, 40] }) }],
  };
}

const barHeight = (n) => 48 + 40 * n;

function QuorumRates({ body }) {
  const rateAxis = (v) => `${formatDecimal(v * 100)} %`;
  return html`<section class="card panel-card" aria-labelledby="painel-quorum">
    <h2 id="painel-quorum">Taxa de quórum por plataforma, método e produto</h2>
    <p class="hint">Quórum atingido ÷ ordens decididas (quórum atingido ou sem quórum).</p>
    <div class="panel-grid">
      ${GROUPS.map(([key, title]) => {
        const groups = body.quorum_rate[key];
        const labels = groups.map((g) => g.code);
        const data = [groups.map((_, i) => i), groups.map((g) => g.quorum_rate)];
        const text = groups.map((g) => `${g.code} ${formatRate(g.quorum_rate)}`).join(", ");
        return html`<div class="panel-part">
          <h3>${title}</h3>
          ${groups.length
            ? html`<${Chart} source=${body} height=${barHeight(groups.length)} options=${barOptions(labels, C.green, rateAxis, [0, 1])} data=${data}
                summary=${`Gráfico de barras: taxa de quórum por ${title.toLowerCase()}: ${text}.`} />`
            : html`<p class="empty">Sem ordens no período.</p>`}
          <${TableAlternative} id=${`tabela-quorum-${key}`} caption=${`Taxa de quórum por ${title.toLowerCase()}`}
            head=${[title, "Ordens", "Decididas", "Quórum atingido", "Taxa de quórum"]}
            rows=${groups.map((g) => [g.code, formatInt(g.orders), formatInt(g.decided), formatInt(g.quorum_met), formatRate(g.quorum_rate)])} />
        </div>`;
      })}
    </div>
  </section>`;
}

function Reasons({ body }) {
  const reasons = body.no_quorum_reasons;
  const top = reasons.slice(0, 8);
  const data = [top.map((_, i) => i), top.map((r) => r.parties)];
  return html`<section class="card panel-card" aria-labelledby="painel-motivos">
    <h2 id="painel-motivos">Principais motivos sem quórum</h2>
    ${top.length
      ? html`<${Chart} source=${body} height=${barHeight(top.length)} options=${barOptions(top.map((r) => r.reason), C.red, (v) => formatInt(v), (u, min, max) => [0, Math.max(1, max)], COUNT_STEPS)} data=${data}
          summary=${`Gráfico de barras: partes sem quórum por motivo: ${top.map((r) => `${r.description} ${formatInt(r.parties)}`).join(", ")}.`} />`
      : html`<p class="empty">Nenhuma parte sem quórum no período.</p>`}
    <${TableAlternative} id="tabela-motivos" caption="Partes sem quórum por motivo, do mais frequente ao menos"
      head=${["Motivo", "Descrição", "Partes"]}
      rows=${reasons.map((r) => [r.reason, r.description, formatInt(r.parties)])} />
  </section>`;
}

/** Ticks of a logarithmic axis: the powers of ten inside the scale (0,1 s, 1 s, 10 s, 100 s …), no minor ones. */
function decades(u, axisIdx, min, max) {
  const out = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    const v = 10 ** e;
    if (v >= min * 0.999 && v <= max * 1.001) out.push(v);
  }
  return out;
}

function TimeToVerdict({ body }) {
  const days = body.days;
  const seconds = (v) => (v === null ? null : v / 1000);
  const data = [days.map((_, i) => i), days.map((d) => seconds(d.verdict_ms_p50)), days.map((d) => seconds(d.verdict_ms_p95))];
  const options = {
    // Logarithmic: seconds and the minutes of parked orders are both readable on one axis.
    scales: { x: { time: false }, y: { distr: 3, log: 10 } },
    axes: [
      dayAxis(days),
      axis((u, splits) => splits.map((v) => `${formatDecimal(v)} s`), { size: 64, splits: decades }),
    ],
    series: [{}, line("p50", C.blue), line("p95", C.purple, { dash: [6, 4] })],
  };
  const t = body.time_to_verdict_ms;
  return html`<section class="card panel-card" aria-labelledby="painel-veredito">
    <h2 id="painel-veredito">Tempo até o veredito</h2>
    <p>No período: mediana (p50) <strong>${formatDuration(t.p50)}</strong>, p95 <strong>${formatDuration(t.p95)}</strong>,
      em ${formatInt(t.count)} ordens com veredito.</p>
    <${Chart} source=${body} options=${options} data=${data}
      summary=${`Gráfico de linhas, escala logarítmica: tempo da entrada ao veredito por dia, p50 e p95; no período p50 ${formatDuration(t.p50)} e p95 ${formatDuration(t.p95)}.`} />
    <${Legend} items=${[["p50 (mediana)", "sw-blue"], ["p95", "sw-purple dashed"]]} />
    <p class="hint">Escala logarítmica: segundos e minutos (ordens que esperaram um parceiro) no mesmo gráfico.</p>
    <${TableAlternative} id="tabela-veredito" caption="Tempo até o veredito por dia, em milissegundos"
      head=${["Dia", "p50 (ms)", "p95 (ms)"]}
      rows=${days.map((d) => [formatDay(d.day, true), formatInt(d.verdict_ms_p50), formatInt(d.verdict_ms_p95)])} />
  </section>`;
}

function Partners({ body }) {
  const days = body.days;
  const latency = [days.map((_, i) => i), days.map((d) => d.partner_latency_ms_avg)];
  const errors = [days.map((_, i) => i), days.map((d) => errorRate(d))];
  const latencyOptions = {
    scales: { x: { time: false } },
    axes: [dayAxis(days), axis((u, splits) => splits.map((v) => `${formatInt(v)} ms`), { size: 60 })],
    series: [{}, line("Latência média", C.blue)],
  };
  const errorOptions = {
    scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(0.01, max)] } },
    axes: [dayAxis(days), axis((u, splits) => splits.map((v) => `${formatDecimal(v * 100)} %`), { size: 60 })],
    series: [{}, line("Taxa de erro", C.red)],
  };
  const p = body.partners;
  return html`<section class="card panel-card" aria-labelledby="painel-parceiros">
    <h2 id="painel-parceiros">Parceiros: latência e erros</h2>
    <p>No período: ${formatInt(p.calls)} chamadas a Poderes, Pessoas e Cadastro Único, ${formatInt(p.errors)} com erro
      (${formatRate(p.error_rate)}); latência média ${p.latency_ms_avg === null ? "—" : `${formatDecimal(p.latency_ms_avg)} ms`}.</p>
    <div class="panel-grid two-up">
      <div class="panel-part">
        <h3>Latência média por chamada</h3>
        <${Chart} source=${body} height=${200} options=${latencyOptions} data=${latency}
          summary=${`Gráfico de linhas: latência média das chamadas aos parceiros por dia; média do período ${formatDecimal(p.latency_ms_avg)} ms.`} />
      </div>
      <div class="panel-part">
        <h3>Taxa de erro</h3>
        <${Chart} source=${body} height=${200} options=${errorOptions} data=${errors}
          summary=${`Gráfico de linhas: taxa de erro das chamadas aos parceiros por dia; no período ${formatRate(p.error_rate)}.`} />
      </div>
    </div>
    <${TableAlternative} id="tabela-parceiros" caption="Chamadas aos parceiros por dia"
      head=${["Dia", "Chamadas", "Erros", "Taxa de erro", "Latência média (ms)"]}
      rows=${days.map((d) => [formatDay(d.day, true), formatInt(d.partner_calls), formatInt(d.partner_errors), formatRate(errorRate(d)), formatDecimal(d.partner_latency_ms_avg)])} />
  </section>`;
}

function Totals({ body }) {
  const t = body.totals;
  const item = (term, value) => html`<div><dt>${term}</dt><dd>${value}</dd></div>`;
  return html`<dl class="summary totals card" aria-label="Totais do período">
    ${item("Ordens", formatInt(t.orders))}
    ${item("Quórum atingido", formatInt(t.quorum_met))}
    ${item("Sem quórum", formatInt(t.no_quorum))}
    ${item("Falhas técnicas", formatInt(t.failed))}
    ${item("Em andamento", formatInt(t.in_progress))}
    ${item("Taxa de quórum", formatRate(t.quorum_rate))}
  </dl>`;
}

function refreshed(iso) {
  if (!iso) return "Os dados ainda não foram exportados: o painel mostra o que a próxima exportação trouxer.";
  const when = new Intl.DateTimeFormat("pt-BR", { dateStyle: "short", timeStyle: "short", timeZone: "America/Sao_Paulo" }).format(new Date(iso));
  return `Dados atualizados até ${when} (horário de Brasília). Os dias são dias de criação em UTC.`;
}

export function Painel({ search }) {
  usePageTitle("Painel");
  const { areas } = claims();
  const applied = painelFilters(search, areas);
  const [form, setForm] = useState(applied);
  const [answer, setAnswer] = useState({ state: "loading", body: null, error: null });

  useEffect(() => {
    const filters = painelFilters(search, areas);
    setForm(filters);
    if (!filters.area) {
      setAnswer({ state: "no-area", body: null, error: null });
      return undefined;
    }
    let cancelled = false;
    setAnswer({ state: "loading", body: null, error: null });
    getInsights(insightsQuery(filters)).then(
      ({ data }) => !cancelled && setAnswer({ state: "ready", body: data, error: null }),
      (error) => !cancelled && !(error instanceof SessionExpired) &&
        setAnswer({ state: "error", body: null, error: `Não foi possível carregar o painel: ${problemText(error)}.` }),
    );
    return () => { cancelled = true; };
  }, [search]);

  function apply(event) {
    event.preventDefault();
    navigate(`/portal/painel${painelSearch(form)}`);
  }

  const body = answer.body;
  const choices = areas.includes(form.area) || !form.area ? areas : [...areas, form.area];
  return html`
    <main id="conteudo" tabindex="-1" class="painel">
      <div class="page-head"><h1>Painel</h1></div>
      <form class="filters" role="search" aria-label="Filtrar o painel" onSubmit=${apply}>
        <div class="field">
          <label for="painel-area">Área</label>
          <select id="painel-area" value=${form.area} onChange=${(e) => setForm({ ...form, area: e.target.value })}>
            ${choices.map((a) => html`<option value=${a}>${a}</option>`)}
          </select>
        </div>
        <div class="field">
          <label for="painel-de">De</label>
          <input id="painel-de" type="date" value=${form.de} required onInput=${(e) => setForm({ ...form, de: e.target.value })} />
        </div>
        <div class="field">
          <label for="painel-ate">Até</label>
          <input id="painel-ate" type="date" value=${form.ate} required onInput=${(e) => setForm({ ...form, ate: e.target.value })} />
        </div>
        <p class="hint filters-hint">Até ${MAX_DAYS} dias por consulta.</p>
        <div class="actions"><button type="submit" class="primary">Aplicar</button></div>
      </form>
      <div aria-live="polite">
        ${answer.state === "loading" && html`<p class="loading" role="status">Carregando o painel…</p>`}
        ${answer.state === "error" && html`<p class="error" role="alert">${answer.error}</p>`}
        ${answer.state === "no-area" && html`<p class="notice">Seu acesso não inclui nenhuma área: o painel não tem o que mostrar.</p>`}
        ${answer.state === "ready" && html`<p class="hint" data-testid="painel-status">
          ${body.area_code}, de ${formatDay(body.from, true)} a ${formatDay(body.to, true)}. ${refreshed(body.refreshed_through)}</p>`}
      </div>
      ${answer.state === "ready" && html`
        <${Totals} body=${body} />
        ${body.totals.orders === 0
          ? html`<p class="empty">Nenhuma ordem desta área no período.</p>`
          : html`
            <${OrdersPerDay} body=${body} />
            <${QuorumRates} body=${body} />
            <${Reasons} body=${body} />
            <${TimeToVerdict} body=${body} />
            <${Partners} body=${body} />`}`}
    </main>`;
}
