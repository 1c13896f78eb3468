// The Painel's pure helpers: filters in the URL (area, de, ate), the API query, and the numbers as the page
// shows them. No DOM and no chart library here (node --test runs them; portal/test/insights.test.mjs).

export const DEFAULT_DAYS = 30; // the API's own default range
export const MAX_DAYS = 366;

const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Today as the API counts days: UTC calendar day, YYYY-MM-DD. */
export function utcToday(now = new Date()) {
  return now.toISOString().slice(0, 10);
}

export function addDays(isoDay, n) {
  const d = new Date(`${isoDay}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

function validDay(value) {
  if (!ISO_DAY.test(value || "")) return "";
  const d = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value ? value : "";
}

/** URL (?area=&de=&ate=) → the filters shown and sent. Missing or malformed values take the defaults:
 * the person's first area, the 30 days up to today (UTC). An area outside the person's areas is kept, so the
 * API answers 403 and the page says why, instead of silently showing another area. */
export function painelFilters(search, areas, today = utcToday()) {
  const params = new URLSearchParams(search);
  const area = (params.get("area") || "").trim() || areas[0] || "";
  const ate = validDay(params.get("ate")) || today;
  const de = validDay(params.get("de")) || addDays(ate, -(DEFAULT_DAYS - 1));
  return { area, de, ate };
}

export function painelSearch(filters) {
  const params = new URLSearchParams();
  if (filters.area) params.set("area", filters.area);
  if (filters.de) params.set("de", filters.de);
  if (filters.ate) params.set("ate", filters.ate);
  return `?${params}`;
}

export function insightsQuery(filters) {
  return { area_code: filters.area, from: filters.de, to: filters.ate };
}

const integer = new Intl.NumberFormat("pt-BR", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("pt-BR", { minimumFractionDigits: 0, maximumFractionDigits: 2 });

export function formatInt(value) {
  return value === null || value === undefined ? "—" : integer.format(value);
}

export function formatDecimal(value) {
  return value === null || value === undefined ? "—" : decimal.format(value);
}

/** A 0..1 rate (the API's, 4 decimals) as a percentage with the API's precision: 0.6667 → "66,67 %". */
export function formatRate(rate) {
  return rate === null || rate === undefined ? "—" : `${decimal.format(Math.round(rate * 10000) / 100)} %`;
}

/** Milliseconds for people: "850 ms", "1,5 s", "2,3 min", "1,2 h". */
export function formatDuration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${integer.format(ms)} ms`;
  if (ms < 60_000) return `${decimal.format(Math.round(ms / 100) / 10)} s`;
  if (ms < 3_600_000) return `${decimal.format(Math.round(ms / 6000) / 10)} min`;
  return `${decimal.format(Math.round(ms / 360_000) / 10)} h`;
}

/** "2026-11-29" → "29/11" (axis) or "29/11/2026" (tables). */
export function formatDay(isoDay, withYear = false) {
  if (!isoDay) return "";
  const [y, m, d] = isoDay.split("-");
  return withYear ? `${d}/${m}/${y}` : `${d}/${m}`;
}

/** Partner errors over calls for one day; null without calls. */
export function errorRate(day) {
  return day.partner_calls ? Math.round((day.partner_errors / day.partner_calls) * 10000) / 10000 : null;
}
