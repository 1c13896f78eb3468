// Unit tests of the portal's pure helpers (node --test; run by tests/unit/test_portal_format.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as f from "../src/format.js";

test("CPF check digits", () => {
  assert.ok(f.isValidCpf("529.982.247-25"));
  assert.ok(f.isValidCpf("52998224725"));
  assert.ok(!f.isValidCpf("529.982.247-26"));
  assert.ok(!f.isValidCpf("111.111.111-11"));
  assert.ok(!f.isValidCpf("5299822472"));
});

test("CNPJ check digits, numeric and alphanumeric", () => {
  for (const valid of ["11.222.333/0001-81", "12ABC34501DE35", "12.abc.345/01de-35", "60606060000184"]) {
    assert.ok(f.isValidCnpj(valid), valid);
  }
  for (const invalid of ["11.222.333/0001-82", "12ABC34501DE36", "00000000000000", "12ABC34501DEA5"]) {
    assert.ok(!f.isValidCnpj(invalid), invalid);
  }
});

test("document masks as typed", () => {
  assert.equal(f.maskDocument("PF", "52998224725"), "529.982.247-25");
  assert.equal(f.maskDocument("PF", "5299"), "529.9");
  assert.equal(f.maskDocument("PJ", "12abc34501de35"), "12.ABC.345/01DE-35");
  assert.equal(f.maskDocument("PJ", "11222333000181999"), "11.222.333/0001-81");
  assert.equal(f.maskDocument("PJ", "12ABC34501DEXY"), "12.ABC.345/01DE"); // check digits are numeric
  assert.equal(f.maskCpf("52998224725"), "***.***.***-25");
});

test("BRL money input to the API's decimal string", () => {
  assert.equal(f.amountFromInput("R$ 250.000,00"), "250000.00");
  assert.equal(f.maskBRLInput("25000000"), "R$ 250.000,00");
  assert.equal(f.amountFromInput("5"), "0.05");
  assert.equal(f.amountFromInput(""), null);
  assert.equal(f.amountFromInput("R$ 0,10"), "0.10");
  assert.equal(f.formatBRL("5000000.00"), "R$ 5.000.000,00");
});

test("São Paulo days for the list's date filters", () => {
  assert.equal(f.startOfDay("2026-12-01"), "2026-12-01T00:00:00-03:00");
  assert.equal(f.startOfNextDay("2026-12-31"), "2027-01-01T00:00:00-03:00");
  assert.equal(f.formatDateTime("2026-11-29T10:00:00Z"), "29/11/2026 07:00:00");
});
