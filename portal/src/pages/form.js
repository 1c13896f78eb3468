// New order form: every field of POST /v1/orders (contracts §2), selects from GET /v1/areas/{area}/options.
// The draft lives in sessionStorage on every keystroke, so an expired session or a reload loses nothing.
// One Idempotency-Key per submission: a retry of the same body (double click, network error, 503) reuses
// it, so AME creates one order; a changed body gets a new key.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "htm/preact";
import { createOrder, getOptions, ApiError, NetworkError } from "../api.js";
import { claims, SessionExpired } from "../auth.js";
import {
  amountFromInput, compactDocument, formatBRL, isValidDocument, maskBRLInput, maskDocument, newIdempotencyKey,
} from "../format.js";
import { navigate, usePageTitle } from "../router.js";

const DRAFT_KEY = "ame.portal.order-draft";
const ATTEMPT_KEY = "ame.portal.order-attempt";

const emptyParty = (personType) => ({ person_type: personType, document: "" });
const emptyDocument = () => ({ document_type: "", title: "" });

function blankDraft(area) {
  return {
    area_code: area || "", product_code: "", platform: "", signature_method: "", amount: "",
    requester: emptyParty("PJ"), guarantors: [], documents: [emptyDocument()], external_reference: "",
  };
}

function load(key) {
  try {
    return JSON.parse(window.sessionStorage.getItem(key) || "null");
  } catch {
    return null;
  }
}

function save(key, value) {
  try {
    if (value === null) window.sessionStorage.removeItem(key);
    else window.sessionStorage.setItem(key, JSON.stringify(value));
  } catch {
    /* storage full or disabled: the form still works, it just cannot survive a reload */
  }
}

/** "guarantors[0].document" (AME) and "guarantors.0.document" (here) name the same field. */
export const fieldKey = (path) => String(path || "").replace(/\[(\d+)\]/g, ".$1");
export const fieldId = (path) => "f-" + fieldKey(path).replace(/\./g, "-");

const DOC_LABEL = { PF: "CPF", PJ: "CNPJ" };

function validate(draft, options) {
  const errors = {};
  const need = (path, value, message) => {
    if (!String(value || "").trim()) errors[path] = message;
  };
  need("area_code", draft.area_code, "Escolha a área.");
  need("product_code", draft.product_code, "Escolha o produto.");
  need("platform", draft.platform, "Escolha a plataforma.");
  need("signature_method", draft.signature_method, "Escolha o método de assinatura.");
  const amount = amountFromInput(draft.amount);
  if (amount === null) errors.amount = "Informe o valor, por exemplo R$ 250.000,00.";
  else if (Number(amount) <= 0) errors.amount = "O valor deve ser maior que zero.";
  else if (options && options.limits && options.limits.max_amount && Number(amount) > Number(options.limits.max_amount)) {
    errors.amount = `O valor passa do limite da área (${formatBRL(options.limits.max_amount)}).`;
  }
  const seen = new Map();
  const party = (path, p) => {
    const label = DOC_LABEL[p.person_type] || "Documento";
    if (!p.document.trim()) errors[`${path}.document`] = `Informe o ${label}.`;
    else if (!isValidDocument(p.person_type, p.document)) errors[`${path}.document`] = `${label} inválido: confira os dígitos verificadores.`;
    else {
      const c = compactDocument(p.document);
      if (seen.has(c)) errors[`${path}.document`] = `Documento já informado em ${seen.get(c)}.`;
      else seen.set(c, path === "requester" ? "Requisitante" : `Garantidor ${Number(path.split(".")[1]) + 1}`);
    }
  };
  party("requester", draft.requester);
  draft.guarantors.forEach((g, i) => party(`guarantors.${i}`, g));
  draft.documents.forEach((d, i) => {
    need(`documents.${i}.document_type`, d.document_type, "Escolha o tipo de documento.");
    if (!d.title.trim()) errors[`documents.${i}.title`] = "Informe o título do documento.";
    else if (d.title.trim().length > 200) errors[`documents.${i}.title`] = "O título tem no máximo 200 caracteres.";
  });
  if (draft.external_reference.trim().length > 128) errors.external_reference = "No máximo 128 caracteres.";
  if (options && options.limits) {
    if (draft.guarantors.length > options.limits.max_guarantors) errors.guarantors = `No máximo ${options.limits.max_guarantors} garantidores.`;
    if (draft.documents.length > options.limits.max_documents) errors.documents = `No máximo ${options.limits.max_documents} documentos.`;
  }
  return errors;
}

function toBody(draft) {
  const party = (p) => ({ person_type: p.person_type, document: compactDocument(p.document) });
  const body = {
    area_code: draft.area_code, product_code: draft.product_code, platform: draft.platform,
    signature_method: draft.signature_method, amount: amountFromInput(draft.amount),
    requester: party(draft.requester), guarantors: draft.guarantors.map(party),
    documents: draft.documents.map((d) => ({ document_type: d.document_type, title: d.title.trim() })),
  };
  const ref = draft.external_reference.trim();
  if (ref) body.external_reference = ref;
  return body;
}

function ErrorText({ path, errors }) {
  const message = errors[fieldKey(path)];
  return message ? html`<p class="field-error" id=${fieldId(path) + "-erro"}>${message}</p>` : null;
}

function describedBy(path, errors, hint) {
  const ids = [];
  if (hint) ids.push(fieldId(path) + "-dica");
  if (errors[fieldKey(path)]) ids.push(fieldId(path) + "-erro");
  return ids.length ? ids.join(" ") : undefined;
}

function Select({ path, label, value, choices, errors, onChange, disabled }) {
  return html`
    <div class="field">
      <label for=${fieldId(path)}>${label}</label>
      <select id=${fieldId(path)} value=${value} required disabled=${disabled}
        aria-invalid=${errors[fieldKey(path)] ? "true" : undefined} aria-describedby=${describedBy(path, errors)}
        onChange=${(e) => onChange(e.target.value)}>
        <option value="">Selecione…</option>
        ${choices.map((c) => html`<option value=${c.code}>${c.name}</option>`)}
      </select>
      <${ErrorText} path=${path} errors=${errors} />
    </div>`;
}

function PartyFields({ path, party, errors, onChange, legend, onRemove }) {
  const docLabel = DOC_LABEL[party.person_type];
  const hint = party.person_type === "PF" ? "000.000.000-00" : "00.000.000/0000-00 (letras aceitas no CNPJ alfanumérico)";
  return html`
    <fieldset class="party">
      <legend>${legend}</legend>
      <div class="grid">
      <div class="field">
        <label for=${fieldId(path + ".person_type")}>Tipo de pessoa</label>
        <select id=${fieldId(path + ".person_type")} value=${party.person_type}
          aria-invalid=${errors[fieldKey(path + ".person_type")] ? "true" : undefined}
          onChange=${(e) => onChange({ person_type: e.target.value, document: maskDocument(e.target.value, party.document) })}>
          <option value="PJ">Pessoa jurídica (CNPJ)</option>
          <option value="PF">Pessoa física (CPF)</option>
        </select>
        <${ErrorText} path=${path + ".person_type"} errors=${errors} />
      </div>
      <div class="field">
        <label for=${fieldId(path + ".document")}>${docLabel}</label>
        <input id=${fieldId(path + ".document")} type="text" autocomplete="off" spellcheck="false" required
          inputmode=${party.person_type === "PF" ? "numeric" : "text"} value=${party.document}
          aria-invalid=${errors[fieldKey(path + ".document")] ? "true" : undefined}
          aria-describedby=${describedBy(path + ".document", errors, true)}
          onInput=${(e) => {
            const masked = maskDocument(party.person_type, e.target.value);
            e.target.value = masked;
            onChange({ ...party, document: masked });
          }} />
        <p class="hint" id=${fieldId(path + ".document") + "-dica"}>${hint}</p>
        <${ErrorText} path=${path + ".document"} errors=${errors} />
      </div>
      </div>
      ${onRemove && html`<button type="button" class="secondary" onClick=${onRemove}>Remover ${legend.toLowerCase()}</button>`}
    </fieldset>`;
}

export function NewOrder() {
  usePageTitle("Nova ordem");
  const { areas, scopes } = claims();
  const canWrite = scopes.includes("ame:orders:write");
  const [draft, setDraftState] = useState(() => load(DRAFT_KEY) || blankDraft(areas.length === 1 ? areas[0] : ""));
  const [options, setOptions] = useState({ state: "idle", data: null, error: null });
  const [errors, setErrors] = useState({});
  const [banner, setBanner] = useState(null);
  const [sending, setSending] = useState(false);
  const [waitSeconds, setWaitSeconds] = useState(0);
  const sendingRef = useRef(false);
  const formRef = useRef(null);
  const restored = useRef(!!load(DRAFT_KEY));

  const setDraft = (next) => {
    setDraftState(next);
    save(DRAFT_KEY, next);
  };
  const update = (patch) => setDraft({ ...draft, ...patch });
  // Adding a row moves focus to its first field; removing one moves it to the list's add button.
  const focusLater = (id) => window.requestAnimationFrame(() => document.getElementById(id)?.focus());

  useEffect(() => {
    if (!draft.area_code) {
      setOptions({ state: "idle", data: null, error: null });
      return undefined;
    }
    let cancelled = false;
    setOptions({ state: "loading", data: null, error: null });
    getOptions(draft.area_code).then(
      ({ data }) => !cancelled && setOptions({ state: "ready", data, error: null }),
      (error) => {
        if (cancelled || error instanceof SessionExpired) return;
        const message = error instanceof ApiError && error.status === 404
          ? "Área não encontrada ou fora do seu acesso."
          : "Não foi possível carregar produtos, plataformas e limites da área. Tente novamente.";
        setOptions({ state: "error", data: null, error: message });
      },
    );
    return () => { cancelled = true; };
  }, [draft.area_code, options.retry]);

  useEffect(() => {
    if (waitSeconds <= 0) return undefined;
    const timer = window.setTimeout(() => setWaitSeconds(waitSeconds - 1), 1000);
    return () => window.clearTimeout(timer);
  }, [waitSeconds]);

  const focusFirstError = (found) => {
    window.requestAnimationFrame(() => {
      const first = Object.keys(found).map((k) => document.getElementById(fieldId(k))).find(Boolean);
      if (first) first.focus();
      else if (formRef.current) formRef.current.querySelector(".banner")?.focus();
    });
  };

  async function submit(event) {
    event.preventDefault();
    if (sendingRef.current || waitSeconds > 0) return;
    const found = validate(draft, options.data);
    setErrors(found);
    if (Object.keys(found).length) {
      setBanner({ kind: "error", text: "Corrija os campos indicados antes de enviar." });
      focusFirstError(found);
      return;
    }
    const body = toBody(draft);
    const serialized = JSON.stringify(body);
    let attempt = load(ATTEMPT_KEY);
    if (!attempt || attempt.body !== serialized) attempt = { key: newIdempotencyKey(), body: serialized };
    save(ATTEMPT_KEY, attempt);
    sendingRef.current = true;
    setSending(true);
    setBanner({ kind: "info", text: "Enviando a ordem…" });
    try {
      const { data } = await createOrder(body, attempt.key);
      save(DRAFT_KEY, null);
      save(ATTEMPT_KEY, null);
      navigate(`/portal/ordens/${encodeURIComponent(data.order_key)}`);
      return;
    } catch (error) {
      if (error instanceof SessionExpired) return; // the expired page takes over; the draft is stored
      if (error instanceof NetworkError) {
        setBanner({ kind: "error", text: "Falha de rede: a ordem pode não ter sido enviada. Tente novamente; a mesma submissão não cria ordem repetida." });
      } else if (error instanceof ApiError && error.status === 503) {
        const wait = error.retryAfter ?? 5;
        setWaitSeconds(wait);
        setBanner({ kind: "error", text: `O AME não conseguiu consultar os parceiros agora. Tente novamente em ${wait} s.` });
      } else if (error instanceof ApiError && error.status === 429) {
        const wait = error.retryAfter ?? 5;
        setWaitSeconds(wait);
        setBanner({ kind: "error", text: `Muitas ordens enviadas em pouco tempo. Tente novamente em ${wait} s; a mesma submissão não cria ordem repetida.` });
      } else if (error instanceof ApiError && error.status === 409) {
        save(ATTEMPT_KEY, null);
        setBanner({ kind: "error", text: "Esta submissão já foi usada com outros dados. Revise e envie de novo." });
      } else if (error instanceof ApiError && error.fieldErrors.length) {
        const server = {};
        const general = [];
        for (const e of error.fieldErrors) {
          const key = fieldKey(e.field);
          if (document.getElementById(fieldId(key))) server[key] = server[key] ? `${server[key]} ${e.message}` : e.message;
          else general.push(`${e.field}: ${e.message}`);
        }
        setErrors(server);
        setBanner({ kind: "error", text: ["O AME recusou a ordem. Corrija os campos indicados.", ...general].join(" ") });
        focusFirstError(server);
      } else {
        const detail = error instanceof ApiError ? error.message : "erro inesperado";
        setBanner({ kind: "error", text: `Não foi possível criar a ordem: ${detail}.` });
      }
    } finally {
      sendingRef.current = false;
      setSending(false);
    }
  }

  if (!canWrite) {
    return html`<main id="conteudo" tabindex="-1"><h1>Nova ordem</h1>
      <p class="notice" role="status">Seu acesso é somente de consulta: criar ordens exige o escopo ame:orders:write.</p>
      <p><a href="/portal/">Ver as ordens</a></p></main>`;
  }

  const opts = options.data || { products: [], platforms: [], signature_methods: [], document_types: [], limits: {} };
  const limits = opts.limits || {};
  const maxGuarantors = limits.max_guarantors ?? 0;
  const maxDocuments = limits.max_documents ?? 1;
  const ready = options.state === "ready";
  const areaChoices = areas.map((a) => ({ code: a, name: a }));

  return html`
    <main id="conteudo" tabindex="-1">
      <h1>Nova ordem</h1>
      ${restored.current && html`<p class="notice" role="status">Recuperamos o rascunho que você estava preenchendo.</p>`}
      <form ref=${formRef} noValidate onSubmit=${submit} aria-describedby="form-ajuda">
        <p id="form-ajuda" class="hint">Todos os campos são obrigatórios, exceto a referência externa.</p>
        ${banner && html`<div class="banner ${banner.kind}" tabindex="-1" role=${banner.kind === "error" ? "alert" : "status"}>${banner.text}</div>`}
        <fieldset>
          <legend>Operação</legend>
          <div class="grid">
            <${Select} path="area_code" label="Área" value=${draft.area_code} choices=${areaChoices} errors=${errors}
              onChange=${(v) => update({ area_code: v, product_code: "", platform: "", signature_method: "" })} />
            ${options.state === "loading" && html`<p class="loading" role="status">Carregando opções da área…</p>`}
            ${options.state === "error" && html`<div class="error" role="alert">${options.error}
              <button type="button" class="secondary" onClick=${() => setOptions({ ...options, retry: Date.now() })}>Tentar de novo</button></div>`}
            <${Select} path="product_code" label="Produto" value=${draft.product_code} choices=${opts.products || []}
              errors=${errors} disabled=${!ready} onChange=${(v) => update({ product_code: v })} />
            <${Select} path="platform" label="Plataforma" value=${draft.platform} choices=${opts.platforms || []}
              errors=${errors} disabled=${!ready} onChange=${(v) => update({ platform: v })} />
            <${Select} path="signature_method" label="Método de assinatura" value=${draft.signature_method}
              choices=${opts.signature_methods || []} errors=${errors} disabled=${!ready}
              onChange=${(v) => update({ signature_method: v })} />
            <div class="field">
              <label for=${fieldId("amount")}>Valor</label>
              <input id=${fieldId("amount")} type="text" inputmode="numeric" autocomplete="off" required
                value=${draft.amount} placeholder="R$ 0,00"
                aria-invalid=${errors.amount ? "true" : undefined} aria-describedby=${describedBy("amount", errors, true)}
                onInput=${(e) => {
                  const masked = maskBRLInput(e.target.value);
                  e.target.value = masked;
                  update({ amount: masked });
                }} />
              <p class="hint" id=${fieldId("amount") + "-dica"}>Em reais${limits.max_amount ? `, até ${formatBRL(limits.max_amount)}` : ""}.</p>
              <${ErrorText} path="amount" errors=${errors} />
            </div>
            <div class="field">
              <label for=${fieldId("external_reference")}>Referência externa (opcional)</label>
              <input id=${fieldId("external_reference")} type="text" maxLength="128" value=${draft.external_reference}
                aria-invalid=${errors.external_reference ? "true" : undefined}
                aria-describedby=${describedBy("external_reference", errors)}
                onInput=${(e) => update({ external_reference: e.target.value })} />
              <${ErrorText} path="external_reference" errors=${errors} />
            </div>
          </div>
        </fieldset>

        <${PartyFields} path="requester" legend="Requisitante" party=${draft.requester} errors=${errors}
          onChange=${(p) => update({ requester: p })} />

        <fieldset aria-describedby="garantidores-limite">
          <legend>Garantidores</legend>
          <p class="hint" id="garantidores-limite">${ready ? `Até ${maxGuarantors} garantidor(es) nesta área.` : "Escolha a área para ver o limite."}</p>
          <${ErrorText} path="guarantors" errors=${errors} />
          ${draft.guarantors.length === 0 && html`<p class="empty">Nenhum garantidor.</p>`}
          ${draft.guarantors.map((g, i) => html`
            <${PartyFields} key=${i} path=${`guarantors.${i}`} legend=${`Garantidor ${i + 1}`} party=${g} errors=${errors}
              onChange=${(p) => update({ guarantors: draft.guarantors.map((x, j) => (j === i ? p : x)) })}
              onRemove=${() => {
                update({ guarantors: draft.guarantors.filter((_, j) => j !== i) });
                focusLater("adicionar-garantidor");
              }} />`)}
          <button type="button" id="adicionar-garantidor" class="secondary" disabled=${!ready || draft.guarantors.length >= maxGuarantors}
            onClick=${() => {
              update({ guarantors: [...draft.guarantors, emptyParty("PF")] });
              focusLater(fieldId(`guarantors.${draft.guarantors.length}.person_type`));
            }}>Adicionar garantidor</button>
        </fieldset>

        <fieldset aria-describedby="documentos-limite">
          <legend>Documentos</legend>
          <p class="hint" id="documentos-limite">${ready ? `Até ${maxDocuments} documento(s) nesta área.` : "Escolha a área para ver o limite."}</p>
          <${ErrorText} path="documents" errors=${errors} />
          ${draft.documents.length === 0 && html`<p class="empty">Nenhum documento.</p>`}
          ${draft.documents.map((d, i) => html`
            <fieldset class="party" key=${i}>
              <legend>Documento ${i + 1}</legend>
              <div class="grid">
              <${Select} path=${`documents.${i}.document_type`} label="Tipo" value=${d.document_type}
                choices=${opts.document_types || []} errors=${errors} disabled=${!ready}
                onChange=${(v) => update({ documents: draft.documents.map((x, j) => (j === i ? { ...x, document_type: v } : x)) })} />
              <div class="field">
                <label for=${fieldId(`documents.${i}.title`)}>Título</label>
                <input id=${fieldId(`documents.${i}.title`)} type="text" maxLength="200" required value=${d.title}
                  aria-invalid=${errors[`documents.${i}.title`] ? "true" : undefined}
                  aria-describedby=${describedBy(`documents.${i}.title`, errors)}
                  onInput=${(e) => update({ documents: draft.documents.map((x, j) => (j === i ? { ...x, title: e.target.value } : x)) })} />
                <${ErrorText} path=${`documents.${i}.title`} errors=${errors} />
              </div>
              </div>
              <button type="button" class="secondary"
                onClick=${() => {
                  update({ documents: draft.documents.filter((_, j) => j !== i) });
                  focusLater("adicionar-documento");
                }}>Remover documento ${i + 1}</button>
            </fieldset>`)}
          <button type="button" id="adicionar-documento" class="secondary" disabled=${!ready || draft.documents.length >= maxDocuments}
            onClick=${() => {
              update({ documents: [...draft.documents, emptyDocument()] });
              focusLater(fieldId(`documents.${draft.documents.length}.document_type`));
            }}>Adicionar documento</button>
        </fieldset>

        <div class="actions">
          <button type="submit" class="primary" disabled=${sending || waitSeconds > 0} aria-disabled=${sending ? "true" : undefined}>
            ${sending ? "Enviando…" : waitSeconds > 0 ? `Tente novamente em ${waitSeconds} s` : "Criar ordem"}
          </button>
          <button type="button" class="secondary" onClick=${() => {
            setDraft(blankDraft(areas.length === 1 ? areas[0] : ""));
            save(ATTEMPT_KEY, null);
            setErrors({});
            setBanner(null);
          }}>Limpar formulário</button>
        </div>
      </form>
    </main>`;
}
