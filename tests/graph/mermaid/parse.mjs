// Parse Mermaid diagrams with the real mermaid package (its flowchart grammar) under node.
//
//   node parse.mjs CACHE_DIR < diagrams.json     # a JSON array of diagram texts
//
// CACHE_DIR holds node_modules with mermaid and jsdom (tests/graph/test_mermaid_parse.py
// installs them there when missing). Mermaid needs a DOM even to parse, so jsdom provides one.
// Prints a JSON array: null for a diagram that parses, else the parser's message.
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const cache = process.argv[2];
const require = createRequire(join(cache, "package.json"));
const load = async (name, file) =>
  import(pathToFileURL(join(cache, "node_modules", name, file)).href);

const { JSDOM } = require("jsdom");
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
for (const key of ["DOMParser", "Element", "HTMLElement", "Node"]) {
  if (!(key in globalThis)) globalThis[key] = dom.window[key];
}
const { default: mermaid } = await load("mermaid", "dist/mermaid.core.mjs");
mermaid.initialize({ startOnLoad: false });

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const text of JSON.parse(input)) {
  try {
    await mermaid.parse(text);
    results.push(null);
  } catch (error) {
    results.push(String(error?.message ?? error));
  }
}
process.stdout.write(JSON.stringify(results));
