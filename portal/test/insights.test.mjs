// Unit tests of the Painel's pure helpers (node --test; run by tests/unit/test_portal_format.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as i from "../src/insights.js";

test("Painel filters: defaults, URL values, malformed dates", () => {
  assert.deepEqual(i.painelFilters("", ["CREDITO_PJ", "CAMBIO_PF"], "2026-12-03"),
    { area: "CREDITO_PJ", de: "2026-11-04", ate: "2026-12-03" });
  assert.deepEqual(i.painelFilters("?area=CAMBIO_PF&de=2026-10-01&ate=2026-10-31", ["CREDITO_PJ"], "2026-12-03"),
    { area: "CAMBIO_PF", de: "2026-10-01", ate: "2026-10-31" });
  assert.deepEqual(i.painelFilters("?de=2026-02-30&ate=ontem", [], "2026-03-01"),
    { area: "", de: "2026-01-31", ate: "2026-03-01" });
  assert.equal(i.painelSearch({ area: "CREDITO_PJ", de: "2026-11-01", ate: "2026-11-30" }),
    "?area=CREDITO_PJ&de=2026-11-01&ate=2026-11-30");
  assert.deepEqual(i.insightsQuery({ area: "A", de: "2026-11-01", ate: "2026-11-30" }),
    { area_code: "A", from: "2026-11-01", to: "2026-11-30" });
  assert.equal(i.addDays("2024-02-28", 1), "2024-02-29");
  assert.equal(i.utcToday(new Date("2026-12-03T23:30:00-03:00")), "2026-12-04");
});

test("Painel numbers in pt-BR", () => {
  assert.equal(i.formatInt(12345), "12.345");
  assert.equal(i.formatInt(null), "—");
  assert.equal(i.formatRate(0.6667), "66,67 %");
  assert.equal(i.formatRate(1), "100 %");
  assert.equal(i.formatRate(null), "—");
  assert.equal(i.formatDecimal(120.5), "120,5");
  assert.equal(i.formatDuration(850), "850 ms");
  assert.equal(i.formatDuration(1540), "1,5 s");
  assert.equal(i.formatDuration(150_000), "2,5 min");
  assert.equal(i.formatDay("2026-11-29"), "29/11");
  assert.equal(i.formatDay("2026-11-29", true), "29/11/2026");
  assert.equal(i.errorRate({ partner_calls: 9, partner_errors: 1 }), 0.1111);
  assert.equal(i.errorRate({ partner_calls: 0, partner_errors: 0 }), null);
});
