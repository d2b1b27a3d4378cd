// Builds the web client into homeserver/web/ (or --outdir DIR): one minified ES module,
// one stylesheet, both named by content hash, an index.html that loads them, and
// build-info.json, which records a hash of every input and output so a test without Node
// can tell that the committed assets are stale or were edited by hand.
//
//   node build.mjs                 write homeserver/web/
//   node build.mjs --outdir DIR    write DIR (tests/web/test_assets.py compares it)
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const outIndex = args.indexOf("--outdir");
const OUT = outIndex >= 0 ? args[outIndex + 1] : join(HERE, "..", "homeserver", "web");

// The inputs whose change must change the build (tests/web/test_assets.py lists the same).
const INPUTS = ["build.mjs", "package.json", "package-lock.json", "src"];

function files(path) {
  if (statSync(path).isDirectory()) {
    return readdirSync(path).sort().flatMap((name) => files(join(path, name)));
  }
  return [path];
}

function sha256(data) {
  return createHash("sha256").update(data).digest("hex");
}

// One hash over every input file's path and bytes, in sorted order.
function sourcesHash() {
  const hash = createHash("sha256");
  const paths = INPUTS.flatMap((p) => files(join(HERE, p))).map((f) => relative(HERE, f)).sort();
  for (const path of paths) {
    hash.update(path + "\0");
    hash.update(sha256(readFileSync(join(HERE, path))) + "\n");
  }
  return hash.digest("hex");
}

const result = await build({
  entryPoints: [join(HERE, "src", "main.jsx")],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  jsx: "automatic",
  jsxImportSource: "preact",
  entryNames: "[name]-[hash]",
  outdir: join(OUT, "assets"),
  legalComments: "eof",
  charset: "utf8",
  write: false,
  logLevel: "warning",
});

rmSync(join(OUT, "assets"), { recursive: true, force: true });
mkdirSync(join(OUT, "assets"), { recursive: true });
const outputs = {};
for (const file of result.outputFiles) {
  writeFileSync(file.path, file.contents);
  outputs[relative(OUT, file.path)] = file.contents;
}
const script = Object.keys(outputs).find((p) => p.endsWith(".js"));
const style = Object.keys(outputs).find((p) => p.endsWith(".css"));

// No inline script or style: the page's Content-Security-Policy forbids both.
const index = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Chat</title>
<link rel="stylesheet" href="${style}">
<script type="module" src="${script}"></script>
</head>
<body>
<div id="app"><noscript>This chat needs JavaScript.</noscript></div>
</body>
</html>
`;
writeFileSync(join(OUT, "index.html"), index);
outputs["index.html"] = Buffer.from(index);

const info = {
  note: "Written by webclient/build.mjs; do not edit. tests/web/test_assets.py checks it.",
  sources_sha256: sourcesHash(),
  files: Object.fromEntries(Object.entries(outputs).sort().map(([p, data]) => [p, sha256(data)])),
};
writeFileSync(join(OUT, "build-info.json"), JSON.stringify(info, null, 2) + "\n");
