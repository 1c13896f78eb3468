// AME's public API with the user's bearer token. Errors come back as RFC 9457 problem documents;
// `ApiError` keeps the status, the problem and Retry-After so each page can show them where they belong.
import { accessToken, renew, SessionExpired } from "./auth.js";

let baseUrl = "";

export function setApiBase(url) {
  baseUrl = String(url || "").replace(/\/$/, "");
}

export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super((problem && (problem.detail || problem.title)) || `erro ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.retryAfter = retryAfter;
  }

  get fieldErrors() {
    return Array.isArray(this.problem.errors) ? this.problem.errors : [];
  }
}

export class NetworkError extends Error {}

function retryAfterSeconds(value) {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

async function send(method, path, body, headers, token) {
  const init = { method, headers: { Accept: "application/json", Authorization: `Bearer ${token}`, ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  try {
    return await fetch(baseUrl + path, init);
  } catch (error) {
    throw new NetworkError("Falha de rede ao falar com o AME.");
  }
}

/** Call the API; a 401 renews the token once and retries; other non-2xx answers throw ApiError. */
export async function api(method, path, { body, headers = {} } = {}) {
  let response = await send(method, path, body, headers, await accessToken());
  if (response.status === 401) {
    try {
      await renew();
    } catch {
      throw new SessionExpired();
    }
    response = await send(method, path, body, headers, await accessToken());
    if (response.status === 401) throw new SessionExpired();
  }
  // A conditional read (If-None-Match) answered "still the same": no body, not an error.
  if (response.status === 304) return { status: 304, data: null, headers: response.headers };
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : null;
  if (!response.ok) {
    throw new ApiError(response.status, data, retryAfterSeconds(response.headers.get("Retry-After")));
  }
  return { status: response.status, data, headers: response.headers };
}

export const getOptions = (area) => api("GET", `/v1/areas/${encodeURIComponent(area)}/options`);
/** The order; with `etag` a conditional read (304 when unchanged) that, with `waitSeconds`, the server
 * holds until the order changes or that many seconds pass (`Prefer: wait`, docs/api.md). */
export const getOrder = (key, { etag = null, waitSeconds = 0 } = {}) => {
  const headers = etag ? { "If-None-Match": etag, ...(waitSeconds ? { Prefer: `wait=${waitSeconds}` } : {}) } : {};
  return api("GET", `/v1/orders/${encodeURIComponent(key)}`, { headers });
};
export const getHistory = (key) => api("GET", `/v1/orders/${encodeURIComponent(key)}/history`);
export const searchOrders = (params) => api("GET", `/v1/orders?${new URLSearchParams(params)}`);
export const getInsights = (params) => api("GET", `/v1/insights?${new URLSearchParams(params)}`);
export const createOrder = (body, idempotencyKey) =>
  api("POST", "/v1/orders", { body, headers: { "Idempotency-Key": idempotencyKey } });

/** What-if for one party of an order: the area (required: only the caller's areas), the party's role (the
 * API asks Poderes the area's power code for it), the amount, the platform and who would be unavailable. */
export const simulate = (body) => api("POST", "/v1/quorum/simulations", { body });
