#!/usr/bin/env bash
# One-command check of the newest Claude Code release against the router: installs
# @anthropic-ai/claude-code@latest into a temporary prefix and runs every test that drives the real CLI.
#   scripts/check-latest-claude-code.sh            # newest release
#   CC_VERSION=2.1.200 scripts/check-latest-claude-code.sh
set -euo pipefail
cd "$(dirname "$0")/.."
version="${CC_VERSION:-latest}"
prefix="$(mktemp -d)"
trap 'rm -rf "$prefix"' EXIT
npm install --silent --no-audit --no-fund --prefix "$prefix" "@anthropic-ai/claude-code@$version" >/dev/null
claude="$prefix/node_modules/.bin/claude"
if ! "$claude" --version >/dev/null 2>&1; then
  (cd "$prefix/node_modules/@anthropic-ai/claude-code" && node install.cjs)
fi
echo "checking $("$claude" --version)"
CLAUDE_BIN="$claude" CCM_REQUIRE_E2E=1 python -m pytest -q -p no:cacheprovider -m e2e \
  tests/e2e tests/providers/test_openai_chat.py tests/server/test_oauth_flow.py tests/cli/test_code_real.py
