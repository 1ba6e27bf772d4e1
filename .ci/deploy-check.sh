#!/usr/bin/env bash
# Deployment check (called from .ci/run): the unit verifies; `make dist` builds dist/orchestra.pyz;
# the pyz, run by a plain python3 in an empty environment with a fresh state directory, serves
# /health, a project, an agent; SIGTERM stops it (exit 0, agent gone, execution interrupted); it
# starts again and finds its data; `backup` copies the database while it runs and a hub starts on
# the copy; systemd/install.sh installs the pyz into a temporary root. Prints what it measured.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

step() { printf '\n== %s\n' "$*"; }
fail() { echo "deploy-check: FAILED: $*" >&2; [ -f "${log:-}" ] && tail -n 40 "$log" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# -- the unit ----------------------------------------------------------------------------------------
step "systemd-analyze verify systemd/orchestra.service"
if ! command -v systemd-analyze >/dev/null; then
    [ "$(id -u)" = 0 ] || fail "systemd-analyze missing (Debian package: systemd)"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd
fi
# verify exits 0 on a directive it ignores: any output is a failure.
out=$(systemd-analyze verify systemd/orchestra.service 2>&1) || fail "$out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
exposure=$(systemd-analyze security --offline=true systemd/orchestra.service 2>/dev/null | tail -n 1 || true)
echo "ok. ${exposure:-}"

# -- the artifact ------------------------------------------------------------------------------------
step "make dist"
started=$(now)
make dist PYTHON="${PYTHON:-python3}" >/dev/null
pyz=$repo/dist/orchestra.pyz
size=$(stat -c %s "$pyz")
echo "built $pyz: $size bytes in $(since "$started") s"

# -- run it like an operator would, in an empty environment ------------------------------------------
tmp=$(mktemp -d)
hub_pid=""
cleanup() {  # after a failure: SIGTERM lets the hub end its agents; SIGKILL if it hangs
    if [ -n "$hub_pid" ] && kill -TERM "$hub_pid" 2>/dev/null; then
        timeout 20 tail --pid="$hub_pid" -f /dev/null || kill -KILL "$hub_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/home" "$tmp/bin" "$tmp/records"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
db=$tmp/state/orchestra.db
# The tests' fake agent CLI (stdlib only) stands in for claude; "@hang @child" keeps it running.
python3 -c 'import sys; sys.path.insert(0, "tests"); from pathlib import Path; from fake_agent import install
install(Path(sys.argv[1]), "claude", Path("tests/fixtures/agent-transcripts/claude-tool.jsonl").resolve(), Path(sys.argv[2]))' \
    "$tmp/bin" "$tmp/records"

run_pyz() {  # the pyz, with nothing from this shell's environment but what is listed
    exec env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$tmp/home" SHIV_ROOT="$tmp/shiv" \
        ORCHESTRA_DATABASE_URL="sqlite:///${DB:-$db}" ORCHESTRA_PORT="${PORT:-$port}" \
        ORCHESTRA_WORKSPACES="$tmp/state/workspaces" ORCHESTRA_CLAUDE_BIN="$tmp/bin/claude" \
        python3 "$pyz" "$@"
}
orchestra() { (run_pyz "$@"); }  # a subshell, so that its exec replaces only the subshell
# start_hub NAME: start in the background, wait for /health; sets hub_pid and elapsed (seconds).
start_hub() {
    log=$tmp/$1.log
    local t0; t0=$(now)
    run_pyz serve >"$log" 2>&1 &  # a background subshell that execs: $! is the hub itself
    hub_pid=$!
    for _ in $(seq 600); do
        curl -fsS "http://127.0.0.1:${PORT:-$port}/health" >/dev/null 2>&1 && { elapsed=$(since "$t0"); return; }
        kill -0 "$hub_pid" 2>/dev/null || fail "the hub exited while starting"
        sleep 0.05
    done
    fail "no /health within 30 s"
}
# stop_hub: SIGTERM; it must exit 0 within 30 s; sets elapsed.
stop_hub() {
    local t0 code=0; t0=$(now)
    kill -TERM "$hub_pid"
    for _ in $(seq 300); do
        if ! kill -0 "$hub_pid" 2>/dev/null; then
            wait "$hub_pid" || code=$?
            [ "$code" = 0 ] || fail "the hub exited with $code after SIGTERM"
            hub_pid=""
            elapsed=$(since "$t0")
            return
        fi
        sleep 0.05
    done
    fail "the hub did not exit within 30 s of SIGTERM"
}
api() {  # api METHOD PATH [JSON]
    curl -fsS -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        ${3:+--data "$3"} "http://127.0.0.1:${PORT:-$port}$2"
}
field() {  # field a.0.b < JSON
    python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$1"
}

step "first start (unpacks the pyz: cold)"
start_hub first
cold=$elapsed
echo "/health after $cold s: $(curl -fsS "http://127.0.0.1:$port/health")"
token=$(orchestra token)
orchestra url | grep -q "#token=$token" || fail "url does not carry the token"
project=$(api POST /projects '{"name": "deploy check"}' | field id)
api POST "/projects/$project/nodes" '{"title": "hang", "prompt": "@hang @child", "agent": "claude-code"}' >/dev/null
execution=$(api POST /launch "{\"project_id\": \"$project\"}" | field executions.0.id)
for _ in $(seq 300); do
    [ "$(api GET "/executions/$execution" | field status)" = running ] \
        && grep -qs child_pid "$tmp"/records/*.json && break
    sleep 0.1
done
[ "$(api GET "/executions/$execution" | field status)" = running ] || fail "the agent never ran"
agent_pids=$(python3 -c 'import json, pathlib, sys
for p in pathlib.Path(sys.argv[1]).glob("*.json"):
    r = json.loads(p.read_text()); print(r["pid"], r.get("child_pid", ""))' "$tmp/records")

step "backup while the hub runs"
orchestra backup "$tmp/copy.db"

step "SIGTERM with a running agent"
stop_hub
took=$elapsed
echo "exited 0 after $took s"
for pid in $agent_pids; do
    if [ -e "/proc/$pid" ] && ! grep -q ') Z' "/proc/$pid/stat"; then fail "agent process $pid survived"; fi
done

step "second start (warm): the project is still there, the execution interrupted"
start_hub second
warm=$elapsed
echo "/health after $warm s"
api GET /projects | grep -q '"deploy check"' || fail "the project is gone after a restart"
status=$(api GET "/executions/$execution" | field status)
[ "$status" = interrupted ] || fail "the execution is $status, not interrupted"
stop_hub

step "a hub on the backup copy"
port2=$(free_port)
DB=$tmp/copy.db PORT=$port2 start_hub restored
# The token lives beside the database (<db>.token): the copy's hub made itself a new one.
token=$(DB=$tmp/copy.db orchestra token)
PORT=$port2 api GET /projects | grep -q '"deploy check"' || fail "the project is not in the backup"
stop_hub
echo ok

step "install.sh into a temporary root, twice"
for round in 1 2; do
    PYTHON=$(command -v python3) bash systemd/install.sh --root "$tmp/root" --no-systemctl --no-user --pyz "$pyz" \
        >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "install.sh (round $round)"; }
done
grep -q 'ssh -L 8000:localhost:8000' "$tmp/install.log" && grep -q '/ui/#token=' "$tmp/install.log" \
    || { cat "$tmp/install.log"; fail "install.sh did not print the tunnel command and the URL"; }
ls "$tmp/root/var/lib/orchestra/backups/"pre-upgrade-*.db >/dev/null 2>&1 || true
echo ok

printf '\ndeploy-check: pyz %s bytes; start to /health cold %s s, warm %s s; SIGTERM to exit with a running agent %s s\n' \
    "$size" "$cold" "$warm" "$took"
