// Builds the portal into dist/: the hashed app bundle (and the shared chunks it imports), one hashed CSS file,
// the Painel's lazy chunk (charts, loaded only on /portal/painel), and index.html naming the first-load files.
// No inline script or style anywhere, so the page runs under a CSP without 'unsafe-inline'.
import { build } from "esbuild";
import { mkdir, readFile, rm, writeFile, copyFile } from "node:fs/promises";
import { basename } from "node:path";

const BASE = "/portal/";
await rm("dist", { recursive: true, force: true });
await mkdir("dist/assets", { recursive: true });

const result = await build({
  entryPoints: { app: "src/main.js" },
  bundle: true,
  splitting: true, // dynamic import() becomes its own file: the Painel and its chart library
  minify: true,
  format: "esm",
  target: ["es2020"],
  outdir: "dist/assets",
  entryNames: "[name]-[hash]",
  chunkNames: "[name]-[hash]",
  metafile: true,
  legalComments: "linked",
  logLevel: "warning",
});

const outputs = result.metafile.outputs;
const entry = Object.keys(outputs).find((p) => outputs[p].entryPoint === "src/main.js" && p.endsWith(".js"));
const css = outputs[entry].cssBundle;
// Files the app imports statically load with it: preloaded so the browser fetches them in parallel.
const staticImports = (path, seen = new Set()) => {
  for (const imp of outputs[path].imports) {
    if (imp.kind === "import-statement" && !seen.has(imp.path)) {
      seen.add(imp.path);
      staticImports(imp.path, seen);
    }
  }
  return seen;
};
const preload = [...staticImports(entry)]
  .map((p) => `  <link rel="modulepreload" href="${BASE}assets/${basename(p)}">`)
  .join("\n");
const template = await readFile("src/index.html", "utf8");
const html = template
  .replaceAll("{{JS}}", `${BASE}assets/${basename(entry)}`)
  .replaceAll("{{CSS}}", `${BASE}assets/${basename(css)}`)
  .replace("{{PRELOAD}}\n", preload ? `${preload}\n` : "");
await writeFile("dist/index.html", html);
// What loads when: the first load (entry, its static imports, CSS) and each lazy chunk (a dynamic import and
// what it imports that the first load has not), for bench/bench_portal.py.
const initial = new Set([entry, ...staticImports(entry)]);
const dynamic = [...initial].flatMap((p) => outputs[p].imports.filter((i) => i.kind === "dynamic-import").map((i) => i.path));
const manifest = {
  initial: [...initial, css].map((p) => `assets/${basename(p)}`),
  lazy: Object.fromEntries(
    dynamic.map((p) => [
      basename(p).replace(/-[A-Z0-9]+\.js$/, ""),
      [p, ...[...staticImports(p)].filter((d) => !initial.has(d))].map((d) => `assets/${basename(d)}`),
    ]),
  ),
};
await writeFile("dist/assets-manifest.json", JSON.stringify(manifest, null, 2) + "\n");
await copyFile("src/favicon.svg", "dist/favicon.svg");
console.log(`portal built: dist/index.html, ${manifest.initial.join(", ")}; lazy: ${JSON.stringify(manifest.lazy)}`);
