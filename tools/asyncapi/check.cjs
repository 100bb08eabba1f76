// Parse an AsyncAPI document with the official parser (@asyncapi/parser) and print its
// diagnostics as JSON lines: {"severity": "error"|"warning"|"info"|"hint", "code", "message",
// "path"}. Exit 0 when there is no error-severity diagnostic and a document came out, else 1.
// The parser is installed by `make asyncapi-parser` into .cache/asyncapi (see package.json).
// Usage: node tools/asyncapi/check.cjs schemas/asyncapi.json
"use strict";
const path = require("path");

const modules = process.env.ASYNCAPI_MODULES
  || path.resolve(__dirname, "..", "..", ".cache", "asyncapi", "node_modules");
const { Parser, fromFile } = require(path.join(modules, "@asyncapi", "parser"));
const SEVERITY = ["error", "warning", "info", "hint"];

async function main(file) {
  const parser = new Parser();
  const { document, diagnostics } = await fromFile(parser, path.resolve(file)).parse();
  let errors = 0;
  for (const d of diagnostics) {
    const severity = SEVERITY[d.severity] || String(d.severity);
    if (severity === "error") errors += 1;
    console.log(JSON.stringify({ severity, code: d.code, message: d.message,
                                 path: (d.path || []).join(".") }));
  }
  if (document === undefined && errors === 0) {
    console.log(JSON.stringify({ severity: "error", code: "no-document",
                                 message: "the parser returned no document", path: "" }));
    errors = 1;
  }
  return errors === 0 ? 0 : 1;
}

main(process.argv[2]).then((code) => { process.exitCode = code; }, (err) => {
  console.log(JSON.stringify({ severity: "error", code: "exception", message: String(err),
                               path: "" }));
  process.exitCode = 1;
});
