#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint (pinned; built from its Go module through
# the Go module proxy into $DURASTREAM_TOOLS, default ~/.cache/durastream, when missing:
# its PyPI wrapper downloads the binary from elsewhere, which this machine cannot reach).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
ACTIONLINT_VERSION=1.7.12
tools="${DURASTREAM_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/durastream}"
actionlint="$tools/actionlint-$ACTIONLINT_VERSION/actionlint"
if [[ ! -x $actionlint ]]; then
  command -v go >/dev/null || { echo "actionlint needs Go to build (apt-get install golang)" >&2; exit 1; }
  GOBIN="$(dirname "$actionlint")" go install "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION"
fi
cd "$repo"
"$actionlint" -version | head -n 1
"$actionlint" .github/workflows/*.yml
echo "workflows: actionlint clean ($(ls .github/workflows/*.yml | wc -l) files)"
