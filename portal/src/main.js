// Portal de Documentos: start-up, session, routing and the page frame.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { html } from "htm/preact";
import "./style.css";
import "uplot/dist/uPlot.min.css"; // the Painel's charts: a few rules, so its lazy chunk needs no stylesheet of its own
import { claims, createAuth, onSession, session, signIn, signOut, startSession } from "./auth.js";
import { setApiBase } from "./api.js";
import { navigate, usePageTitle } from "./router.js";
import { OrdersList } from "./pages/list.js";
import { NewOrder } from "./pages/form.js";
import { OrderPage } from "./pages/order.js";

const BASE = "/portal/";
let painelModule = null; // pages/painel.js and the chart library: a separate chunk, loaded on the Painel only
const CALLBACK = "/portal/callback";

function useLocation() {
  const [loc, setLoc] = useState(() => ({ path: window.location.pathname, search: window.location.search }));
  useEffect(() => {
    const update = () => setLoc({ path: window.location.pathname, search: window.location.search });
    window.addEventListener("popstate", update);
    window.addEventListener("portal:navigate", update);
    update(); // a navigation made before this effect ran (the sign-in callback's)
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener("portal:navigate", update);
    };
  }, []);
  return loc;
}

function useSession() {
  const [s, setS] = useState(session());
  useEffect(() => {
    const off = onSession(setS);
    setS(session()); // a change published before this effect ran
    return off;
  }, []);
  return s;
}

// Same-origin links inside the portal change the page without reloading it.
document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.target.closest && event.target.closest("a[href]");
  if (!a || a.target || a.hasAttribute("download")) return;
  const url = new URL(a.href, window.location.href);
  if (url.origin !== window.location.origin || !url.pathname.startsWith(BASE)) return;
  if (url.hash && url.pathname === window.location.pathname && url.search === window.location.search) return; // in-page (skip link)
  event.preventDefault();
  navigate(url.pathname + url.search);
});

function route(path) {
  const rest = path.startsWith(BASE) ? path.slice(BASE.length) : path.replace(/^\/portal/, "");
  if (rest === "" || rest === "ordens" || rest === "ordens/") return { page: "list" };
  if (rest === "ordens/nova") return { page: "new" };
  if (rest === "painel" || rest === "painel/") return { page: "painel" };
  const m = rest.match(/^ordens\/([^/]+)$/);
  if (m) return { page: "order", key: decodeURIComponent(m[1]) };
  return { page: "missing" };
}

function Header({ name, current }) {
  const link = (href, text, page) =>
    html`<a href=${href} aria-current=${current === page ? "page" : undefined}>${text}</a>`;
  return html`
    <header class="top">
      <a class="skip" href="#conteudo">Ir para o conteúdo</a>
      <div class="brand"><a href="/portal/">Portal de Documentos</a></div>
      <nav aria-label="Principal">
        ${link("/portal/", "Ordens", "list")}
        ${link("/portal/ordens/nova", "Nova ordem", "new")}
        ${link("/portal/painel", "Painel", "painel")}
        <a href="/docs">API</a>
      </nav>
      <div class="who">
        <span class="user">${name}</span>
        <button type="button" class="secondary" onClick=${() => signOut()}>Sair</button>
      </div>
    </header>`;
}

function SignInPage({ error }) {
  usePageTitle("Entrar");
  return html`
    <main id="conteudo" class="narrow" tabindex="-1">
      <h1>Portal de Documentos</h1>
      <p>Crie ordens de assinatura e veja, em português, se a empresa pode assinar e o que falta quando não pode.</p>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <button type="button" class="primary" onClick=${() => signIn()}>Entrar</button>
    </main>`;
}

function ExpiredPage() {
  usePageTitle("Sessão expirada");
  return html`
    <main id="conteudo" class="narrow" tabindex="-1">
      <h1>Sua sessão expirou</h1>
      <p>Por segurança, entre novamente para continuar. O que você digitou no formulário de nova ordem
        ficou guardado neste navegador e volta a aparecer depois da entrada.</p>
      <button type="button" class="primary" onClick=${() => signIn()}>Entrar novamente</button>
    </main>`;
}

function MissingPage() {
  usePageTitle("Página não encontrada");
  return html`
    <main id="conteudo" tabindex="-1">
      <h1>Página não encontrada</h1>
      <p><a href="/portal/">Voltar para a lista de ordens</a></p>
    </main>`;
}

function LazyPainel({ search }) {
  const [mod, setMod] = useState(painelModule);
  const [failed, setFailed] = useState(false);
  usePageTitle("Painel");
  useEffect(() => {
    if (mod) return;
    import("./pages/painel.js").then(
      (loaded) => {
        painelModule = loaded;
        setMod(loaded);
      },
      () => setFailed(true),
    );
  }, []);
  if (mod) return html`<${mod.Painel} search=${search} />`;
  return html`
    <main id="conteudo" tabindex="-1">
      <h1>Painel</h1>
      ${failed
        ? html`<p class="error" role="alert">Não foi possível carregar o painel. Verifique a conexão e recarregue a página.</p>`
        : html`<p class="loading" role="status">Carregando o painel…</p>`}
    </main>`;
}

function App() {
  const s = useSession();
  const loc = useLocation();
  if (s.status === "loading") return html`<p class="boot" role="status">Carregando…</p>`;
  if (s.status === "expired") return html`<${ExpiredPage} />`;
  if (s.status !== "signed-in") return html`<${SignInPage} error=${s.error} />`;
  const r = route(loc.path);
  const { name } = claims();
  let page;
  if (r.page === "list") page = html`<${OrdersList} search=${loc.search} />`;
  else if (r.page === "new") page = html`<${NewOrder} />`;
  else if (r.page === "painel") page = html`<${LazyPainel} search=${loc.search} />`;
  else if (r.page === "order") page = html`<${OrderPage} key=${r.key} orderKey=${r.key} />`;
  else page = html`<${MissingPage} />`;
  return html`<${Header} name=${name} current=${r.page} />${page}`;
}

async function boot() {
  const root = document.getElementById("app");
  let config;
  try {
    const response = await fetch(`${BASE}config.json`, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(String(response.status));
    config = await response.json();
  } catch {
    root.textContent = "";
    render(html`<main id="conteudo"><h1>Portal indisponível</h1>
      <p role="alert">Não foi possível carregar a configuração do portal. Tente novamente em instantes.</p></main>`, root);
    return;
  }
  setApiBase(config.apiBaseUrl);
  createAuth(config);
  root.textContent = "";
  render(html`<${App} />`, root);
  await startSession(CALLBACK);
}

boot();
