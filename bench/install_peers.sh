#!/usr/bin/env bash
# Install the peers `python -m bench --peers litellm,claude-code-router` compares against, into their own
# prefix (never into the project's venv; `.ci/run` does not run this). Re-running upgrades nothing that is
# already there; delete the prefix to start over.
#
#   bench/install_peers.sh [PREFIX]     # default: $CCM_BENCH_PEERS or ~/.cache/ccm-bench-peers
#
# Afterwards: PREFIX/litellm/bin/litellm and PREFIX/ccr/node_modules/@musistudio/claude-code-router/dist/cli.js
set -euo pipefail
prefix="${1:-${CCM_BENCH_PEERS:-$HOME/.cache/ccm-bench-peers}}"
mkdir -p "$prefix"
py="${PYTHON:-python3}"

if [ ! -x "$prefix/litellm/bin/litellm" ]; then
  echo "== litellm[proxy] -> $prefix/litellm"
  "$py" -m venv "$prefix/litellm"
  "$prefix/litellm/bin/pip" install --quiet --upgrade pip
  "$prefix/litellm/bin/pip" install --quiet 'litellm[proxy]'
fi
"$prefix/litellm/bin/python" -c 'import importlib.metadata as m; print("litellm", m.version("litellm"))'

if [ ! -f "$prefix/ccr/node_modules/@musistudio/claude-code-router/dist/cli.js" ]; then
  command -v npm >/dev/null || { echo "npm not found: install Node.js >= 18 for claude-code-router" >&2; exit 1; }
  echo "== @musistudio/claude-code-router -> $prefix/ccr"
  mkdir -p "$prefix/ccr"
  (cd "$prefix/ccr" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --no-fund --no-audit @musistudio/claude-code-router)
fi
node -e 'console.log("claude-code-router", require(process.argv[1]).version)' \
  "$prefix/ccr/node_modules/@musistudio/claude-code-router/package.json"
echo "peers installed under $prefix (python -m bench --peers litellm,claude-code-router)"
