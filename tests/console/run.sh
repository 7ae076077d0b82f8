#!/usr/bin/env bash
# Browser test of the web console (see console.test.mjs). Installs puppeteer-core (no
# browser download: it drives Debian's chromium) into tests/console/node_modules.
set -euo pipefail
cd "$(dirname "$0")"
if [[ ! -d node_modules/puppeteer-core ]]; then
  npm install --no-package-lock --no-audit --no-fund --loglevel=error
fi
exec node console.test.mjs
