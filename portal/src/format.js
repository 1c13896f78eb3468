// Pure helpers: CPF/CNPJ masks and check digits (alphanumeric CNPJ included), BRL money, São Paulo dates.
// No DOM, no I/O: tests/e2e/portal exercise them through the form, and the browser bundle imports them.

export const TIME_ZONE = "America/Sao_Paulo";

export function compactDocument(value) {
  return String(value || "").replace(/[\s./-]/g, "").toUpperCase();
}

export function isValidCpf(value) {
  const d = compactDocument(value);
  if (!/^[0-9]{11}$/.test(d) || new Set(d).size === 1) return false;
  const digit = (len) => {
    let sum = 0;
    for (let i = 0; i < len; i++) sum += Number(d[i]) * (len + 1 - i);
    const r = (sum * 10) % 11;
    return r === 10 ? 0 : r;
  };
  return digit(9) === Number(d[9]) && digit(10) === Number(d[10]);
}

// Alphanumeric CNPJ (Receita Federal, from July 2026): each character counts as its ASCII code minus 48,
// weights 2..9 from the right, check digits stay numeric. A numeric CNPJ is the same computation.
export function isValidCnpj(value) {
  const c = compactDocument(value);
  if (!/^[0-9A-Z]{12}[0-9]{2}$/.test(c) || new Set(c).size === 1) return false;
  const digit = (len) => {
    let sum = 0;
    let weight = 2;
    for (let i = len - 1; i >= 0; i--) {
      sum += (c.charCodeAt(i) - 48) * weight;
      weight = weight === 9 ? 2 : weight + 1;
    }
    const r = sum % 11;
    return r < 2 ? 0 : 11 - r;
  };
  return digit(12) === Number(c[12]) && digit(13) === Number(c[13]);
}

export function isValidDocument(personType, value) {
  return personType === "PF" ? isValidCpf(value) : isValidCnpj(value);
}

/** Mask as typed: CPF 000.000.000-00, CNPJ AA.AAA.AAA/AAAA-00 (letters allowed in the first 12). */
export function maskDocument(personType, value) {
  if (personType === "PF") {
    const d = String(value || "").replace(/\D/g, "").slice(0, 11);
    return d.replace(/^(\d{3})(\d)/, "$1.$2").replace(/^(\d{3})\.(\d{3})(\d)/, "$1.$2.$3")
      .replace(/\.(\d{3})(\d{1,2})$/, ".$1-$2");
  }
  const raw = String(value || "").toUpperCase().replace(/[^0-9A-Z]/g, "");
  let c = "";
  for (const ch of raw) {
    if (c.length >= 14) break;
    if (c.length >= 12 && !/[0-9]/.test(ch)) continue; // the two check digits are numeric
    c += ch;
  }
  let out = c.slice(0, 2);
  if (c.length > 2) out += "." + c.slice(2, 5);
  if (c.length > 5) out += "." + c.slice(5, 8);
  if (c.length > 8) out += "/" + c.slice(8, 12);
  if (c.length > 12) out += "-" + c.slice(12, 14);
  return out;
}

export function formatDocument(value) {
  const c = compactDocument(value);
  if (c.length === 11) return maskDocument("PF", c);
  if (c.length === 14) return maskDocument("PJ", c);
  return value || "";
}

/** A CPF for people to read without exposing it: ***.***.***-25 (last two digits only). */
export function maskCpf(cpf) {
  const d = compactDocument(cpf);
  return d.length === 11 ? `***.***.***-${d.slice(9)}` : "***";
}

const BRL = new Intl.NumberFormat("pt-BR", { style: "currency", currency: "BRL" });

/** "250000.00" → "R$ 250.000,00". */
export function formatBRL(amount) {
  if (amount === null || amount === undefined || amount === "") return "—";
  return BRL.format(Number(amount)).replace(/\u00a0/g, " ");
}

/** What the user typed ("R$ 250.000,00", "250000", "1.234,5") → "250000.00", or null when not an amount.
 * Typing is taken as cents (the usual BRL mask): the digits typed so far, last two are centavos. */
export function centsFromTyped(typed) {
  const digits = String(typed || "").replace(/\D/g, "").replace(/^0+(?=\d)/, "");
  if (!digits) return null;
  return digits.length > 17 ? null : digits;
}

export function amountFromCents(cents) {
  if (cents === null || cents === undefined || cents === "") return null;
  const padded = String(cents).padStart(3, "0");
  return `${padded.slice(0, -2).replace(/^0+(?=\d)/, "")}.${padded.slice(-2)}`;
}

/** Mask for the money input: the typed digits shown as R$ 1.234,56. */
export function maskBRLInput(typed) {
  const cents = centsFromTyped(typed);
  return cents === null ? "" : formatBRL(amountFromCents(cents));
}

/** The API's decimal string for what the money input shows, or null. */
export function amountFromInput(shown) {
  const cents = centsFromTyped(shown);
  return cents === null ? null : amountFromCents(cents);
}

const DATE_TIME = new Intl.DateTimeFormat("pt-BR", {
  timeZone: TIME_ZONE, day: "2-digit", month: "2-digit", year: "numeric",
  hour: "2-digit", minute: "2-digit", second: "2-digit",
});

export function formatDateTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : DATE_TIME.format(d).replace(",", "");
}

// Brazil has kept UTC−03:00 all year since 2019; a day in São Paulo starts at 03:00 UTC.
export const SAO_PAULO_OFFSET = "-03:00";

/** "2026-12-01" (a São Paulo calendar day) → the instant it starts, as the API expects. */
export function startOfDay(isoDate) {
  return `${isoDate}T00:00:00${SAO_PAULO_OFFSET}`;
}

/** The instant the day after `isoDate` starts (created_to is exclusive, the form's "até" inclusive). */
export function startOfNextDay(isoDate) {
  const [y, m, d] = isoDate.split("-").map(Number);
  const next = new Date(Date.UTC(y, m - 1, d + 1));
  return startOfDay(next.toISOString().slice(0, 10));
}

export function newIdempotencyKey() {
  return "portal-" + crypto.randomUUID();
}
