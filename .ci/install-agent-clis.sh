#!/usr/bin/env bash
# Install the real agent CLIs that tests/test_real_clis.py drives: Claude Code, Codex CLI and
# Gemini CLI from the npm registry, at the versions pinned in .ci/agent-clis/package.json (every
# transitive package pinned with its integrity hash in package-lock.json), into
# .ci/agent-clis/node_modules -- never globally. The test finds them at
# .ci/agent-clis/node_modules/.bin/{claude,codex,gemini}.
#
# Idempotent: when the pinned versions are installed and run, it only says so (~3 s). Otherwise a
# clean `npm ci` (Codex and Claude Code ship their native binaries as per-platform optional
# dependencies, so optional dependencies must not be omitted).
set -euo pipefail
cd "$(dirname "$0")/agent-clis"

if ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
    echo "agent CLIs: Node.js 20 or newer is needed (found $(node --version))" >&2
    exit 1
fi

pinned() { node -p "require('./package.json').dependencies['$1']"; }
CLAUDE=$(pinned @anthropic-ai/claude-code)
CODEX=$(pinned @openai/codex)
GEMINI=$(pinned @google/gemini-cli)
BIN=node_modules/.bin

installed() {
    [ "$("$BIN/claude" --version 2>/dev/null)" = "$CLAUDE (Claude Code)" ] &&
        [ "$("$BIN/codex" --version 2>/dev/null)" = "codex-cli $CODEX" ] &&
        [ "$("$BIN/gemini" --version 2>/dev/null)" = "$GEMINI" ]
}

if installed; then
    echo "agent CLIs already installed: claude $CLAUDE, codex $CODEX, gemini $GEMINI"
    exit 0
fi

npm ci --no-audit --no-fund --loglevel=error --include=optional
# Claude Code's postinstall copies its native binary over bin/claude.exe; run it again should an
# npm that holds back install scripts have skipped it.
if ! "$BIN/claude" --version >/dev/null 2>&1; then
    (cd node_modules/@anthropic-ai/claude-code && node install.cjs)
fi

if ! installed; then
    echo "agent CLIs: the installed versions do not answer as pinned:" >&2
    "$BIN/claude" --version >&2 || true
    "$BIN/codex" --version >&2 || true
    "$BIN/gemini" --version >&2 || true
    exit 1
fi
echo "agent CLIs installed: claude $CLAUDE, codex $CODEX, gemini $GEMINI"
