// Builds the portal into dist/: one hashed JS bundle and one hashed CSS file, and index.html naming them.
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
  minify: true,
  format: "esm",
  target: ["es2020"],
  outdir: "dist/assets",
  entryNames: "[name]-[hash]",
  metafile: true,
  legalComments: "linked",
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = outputs.find((n) => n.endsWith(".js"));
const css = outputs.find((n) => n.endsWith(".css"));
const template = await readFile("src/index.html", "utf8");
const html = template
  .replaceAll("{{JS}}", `${BASE}assets/${js}`)
  .replaceAll("{{CSS}}", `${BASE}assets/${css}`);
await writeFile("dist/index.html", html);
await copyFile("src/favicon.svg", "dist/favicon.svg");
console.log(`portal built: dist/index.html, assets/${js}, assets/${css}`);
