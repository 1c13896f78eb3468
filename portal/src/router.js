// Page changes without reloads, and the page title.
import { useEffect } from "preact/hooks";

export function navigate(url, { replace = false } = {}) {
  if (replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  window.dispatchEvent(new Event("portal:navigate"));
}

/** The document title names the page (screen readers announce it). */
export function usePageTitle(title) {
  useEffect(() => {
    document.title = `${title} — Portal de Documentos`;
  }, [title]);
}

