// Loads the addon built by `scripts/build.mjs` (napi-rs). Its generated declarations are
// `native/index.d.ts`.
"use strict"
const { join } = require("node:path")

let binding
try {
  binding = require(join(__dirname, "durastream.node"))
} catch (e) {
  const err = new Error(
    `durastream: the native addon is not built (${e.message}). Run \`npm install\` or ` +
      "`npm run build` in the package folder: it compiles the Rust crate with cargo.",
  )
  err.cause = e
  throw err
}
module.exports = binding
