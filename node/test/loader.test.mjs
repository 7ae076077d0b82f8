// The addon loader (native/index.cjs): on a platform without a prebuilt package it fails
// with an error that names the platform, instead of a bare MODULE_NOT_FOUND.
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { copyFileSync, mkdtempSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"

const require = createRequire(import.meta.url)
const pkgDir = dirname(require.resolve("@durastream/client/package.json"))

function loadAs(platform, arch) {
  // A copy of the loader with no locally built addon beside it.
  const dir = mkdtempSync(join(tmpdir(), "durastream-loader-"))
  try {
    copyFileSync(join(pkgDir, "native", "index.cjs"), join(dir, "index.cjs"))
    const script = `
      Object.defineProperty(process, "platform", { value: ${JSON.stringify(platform)} })
      Object.defineProperty(process, "arch", { value: ${JSON.stringify(arch)} })
      try { require(${JSON.stringify(join(dir, "index.cjs"))}); console.log("loaded") }
      catch (e) { console.log(JSON.stringify({ message: e.message, platform: e.platform })) }`
    const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" })
    assert.equal(r.status, 0, r.stderr)
    return JSON.parse(r.stdout)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test("an unsupported platform is named in the error", () => {
  const e = loadAs("aix", "ppc64")
  assert.equal(e.platform, "aix-ppc64")
  assert.match(e.message, /no prebuilt durastream addon for this platform \(aix-ppc64/)
})

test("a supported platform without its package names the missing package", () => {
  const e = loadAs("darwin", "arm64")
  assert.equal(e.platform, "darwin-arm64")
  assert.match(e.message, /@durastream\/client-darwin-arm64 .* is not installed/)
})
