// Loads the native addon. A user's install gets it prebuilt from the optional package of
// their platform (`@durastream/client-linux-x64-gnu`, ...: napi-rs's layout, one `.node`
// file each; npm installs only the one whose os/cpu/libc match). A checkout uses the addon
// that `npm run build` compiled into this folder (`durastream.node`), which wins when
// present. The generated declarations are `native/index.d.ts`.
"use strict"
const { existsSync } = require("node:fs")
const { join } = require("node:path")

/** The libc of this Linux process: `gnu` (glibc) or `musl`. */
function linuxLibc() {
  const report = typeof process.report?.getReport === "function" ? process.report.getReport() : null
  const header = report && (typeof report === "string" ? JSON.parse(report) : report).header
  return header && header.glibcVersionRuntime ? "gnu" : "musl"
}

/** The platform name of the prebuilt packages, e.g. `linux-x64-gnu`, `darwin-arm64`. */
function platformName(platform = process.platform, arch = process.arch) {
  if (platform === "linux") return `${platform}-${arch}-${linuxLibc()}`
  if (platform === "win32") return `${platform}-${arch}-msvc`
  return `${platform}-${arch}`
}

/** The platforms with a prebuilt package (the release workflow's matrix). */
const SUPPORTED = [
  "linux-x64-gnu",
  "linux-arm64-gnu",
  "linux-x64-musl",
  "linux-arm64-musl",
  "darwin-x64",
  "darwin-arm64",
  "win32-x64-msvc",
]

function load() {
  const local = join(__dirname, "durastream.node")
  if (existsSync(local)) return require(local)
  const name = platformName()
  const pkg = `@durastream/client-${name}`
  try {
    return require(pkg)
  } catch (e) {
    const missing = e && e.code === "MODULE_NOT_FOUND" && String(e.message).includes(pkg)
    const why = !SUPPORTED.includes(name)
      ? `there is no prebuilt durastream addon for this platform (${name}; prebuilt: ${SUPPORTED.join(", ")})`
      : missing
        ? `the package ${pkg} for this platform (${name}) is not installed: reinstall without ` +
          "--no-optional / --omit=optional so that npm installs it"
        : `the package ${pkg} for this platform (${name}) failed to load: ${e && e.message}`
    const err = new Error(
      `@durastream/client: ${why}. To build the addon from source instead, run ` +
        "`npm run build` in a checkout of the repository (needs Rust).",
    )
    err.cause = e
    err.platform = name
    throw err
  }
}

module.exports = load()
