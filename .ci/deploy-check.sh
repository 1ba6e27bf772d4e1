#!/usr/bin/env bash
# Deployment check (called from .ci/run): the unit verifies; `make dist` builds dist/orchestra.pyz;
# the pyz, run by a plain python3 in an empty environment with a fresh state directory, serves
# /health, a project, an agent; SIGTERM stops it (exit 0, agent gone, execution interrupted); it
# starts again and finds its data; `backup` copies the database while it runs and a hub starts on
# the copy; systemd/install.sh installs the pyz into a temporary root. Prints what it measured.
#
# With --systemd it also boots Debian with systemd in a container (debootstrap + systemd-nspawn,
# a few minutes the first time; the root file system is cached in /var/tmp) and checks the real unit:
# install.sh, agents under the sandbox (node runs, $HOME writable, /usr read-only, /home hidden), and
# `systemctl stop` / a crashed hub ending every agent, even one that left its process group.
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
# The tests' fake agent CLI (stdlib only) stands in for claude; "@hang @child" keeps it running. Agents
# are sandboxed (when bubblewrap works here): the fake, its transcript and the interpreter it names must
# be where an agent can read them, so it is copied beside its wrapper (a template's sandbox.readable) and
# written with the interpreter the pyz runs on (a python3 in a home directory, pyenv or uv, is hidden).
cp tests/fake_agent.py tests/fixtures/agent-transcripts/claude-tool.jsonl "$tmp/bin/"
env -i PATH=/usr/local/bin:/usr/bin:/bin python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path; from fake_agent import install
install(Path(sys.argv[1]), "claude", Path(sys.argv[1]) / "claude-tool.jsonl", Path(sys.argv[2]))' \
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
# The UI travels inside the pyz (site-packages/ui, where orchestra/api/static.py looks).
curl -fsS "http://127.0.0.1:$port/ui/" | grep -qi '<html' || fail "the pyz does not serve the UI"
# The laptop's client, from the hub itself (issue 26): the wheel of the pyz's own code, the UI inside.
wheel=$(curl -fsS "http://127.0.0.1:$port/client/" | python3 -c 'import sys, json; print(json.load(sys.stdin)["wheel"])') \
    || fail "the pyz does not serve its client (GET /client/)"
curl -fsS -o "$tmp/$wheel" "http://127.0.0.1:$port/client/$wheel" || fail "GET /client/$wheel"
python3 -c 'import sys, zipfile; assert "orchestra/ui/index.html" in zipfile.ZipFile(sys.argv[1]).namelist()' \
    "$tmp/$wheel" || fail "the served wheel has no UI"
echo "serves its client: $wheel"
token=$(orchestra token)
orchestra url | grep -q "#token=$token" || fail "url does not carry the token"
project=$(api POST /projects '{"name": "deploy check"}' | field id)
api POST /agent-templates "{\"id\": \"fake-claude\", \"name\": \"Fake Claude\", \"output\": \"claude-stream-json\",
    \"command\": [\"$tmp/bin/claude\", \"-p\", \"{prompt}\", \"--output-format\", \"stream-json\"],
    \"sandbox\": {\"readable\": [\"$tmp/bin\"], \"writable\": [\"$tmp/records\"]}}" >/dev/null
api POST "/projects/$project/nodes" '{"title": "hang", "prompt": "@hang @child", "agent": "fake-claude"}' >/dev/null
execution=$(api POST /launch "{\"project_id\": \"$project\"}" | field executions.0.id)
for _ in $(seq 300); do
    [ "$(api GET "/executions/$execution" | field status)" = running ] \
        && grep -qs child_pid "$tmp"/records/*.json && break
    sleep 0.1
done
[ "$(api GET "/executions/$execution" | field status)" = running ] || fail "the agent never ran"
# The agent and its child, found by their working directory (in a sandbox the pids they record are
# those of its own PID namespace).
agents() {
    for proc in /proc/[0-9]*; do
        case "$(readlink "$proc/cwd" 2>/dev/null)" in "$tmp/state/workspaces"*)
            grep -q ') Z' "$proc/stat" 2>/dev/null || echo "${proc#/proc/}" ;;
        esac
    done
}
[ "$(agents | wc -l)" -ge 2 ] || fail "the agent and its child are not running: $(agents)"

# The demo agent (no CLI, no key) runs from the pyz too, in the sandbox when there is one.
demo=$(api POST "/projects/$project/nodes" '{"title": "demo", "prompt": "Write DEMO.md", "agent": "demo"}' | field id)
demo_run=$(api POST /launch "{\"project_id\": \"$project\", \"node_ids\": [\"$demo\"]}" | field executions.0.id)
for _ in $(seq 300); do
    case "$(api GET "/executions/$demo_run" | field status)" in queued|running) sleep 0.1 ;; *) break ;; esac
done
[ "$(api GET "/executions/$demo_run" | field status)" = succeeded ] \
    || fail "the demo agent did not succeed: $(api GET "/executions/$demo_run")"
echo "the demo agent ran ($(api GET /health | field sandbox))"

step "backup while the hub runs"
orchestra backup "$tmp/copy.db"

step "SIGTERM with a running agent"
stop_hub
took=$elapsed
echo "exited 0 after $took s"
[ -z "$(agents)" ] || fail "agent processes survived: $(agents)"

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
# Only the hub creates its token: without systemctl it has not started, so the message says how to get the link.
grep -q 'ssh -L 8000:localhost:8000' "$tmp/install.log" && grep -q 'once the hub has started: sudo orchestra url' "$tmp/install.log" \
    || { cat "$tmp/install.log"; fail "install.sh did not print the tunnel command and how to get the login link"; }
ls "$tmp/root/var/lib/orchestra/backups/"pre-upgrade-*.db >/dev/null 2>&1 || true
echo ok


# -- with --systemd: the unit under a real systemd ----------------------------------------------------
systemd_boot_check() {
    step "the unit under systemd (Debian in systemd-nspawn)"
    PATH=$PATH:/usr/sbin:/sbin  # debootstrap lives there
    command -v systemd-nspawn >/dev/null && command -v debootstrap >/dev/null \
        || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap systemd-container >/dev/null; }
    local rootfs=/var/tmp/orchestra-check-rootfs payload=$tmp/payload
    if [ ! -x "$rootfs/usr/bin/node" ]; then
        rm -rf "$rootfs"
        debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,python3,nodejs,curl,procps \
            bookworm "$rootfs" http://deb.debian.org/debian >"$tmp/debootstrap.log" 2>&1 \
            || { tail -n 20 "$tmp/debootstrap.log"; fail "debootstrap"; }
    fi
    mkdir -p "$payload"
    cp systemd/install.sh systemd/orchestra.service systemd/orchestra.env.example "$pyz" tests/fake_agent.py \
        tests/fixtures/agent-transcripts/claude-tool.jsonl tests/fixtures/agent-transcripts/codex-tool.jsonl "$payload/"
    # "claude": probes its sandbox first. "codex": leaves a SIGTERM-proof process in a session of its own.
    cat >"$payload/claude" <<'EOF'
#!/bin/sh
[ "$1" = --version ] && exec python3 /payload/fake_agent.py --transcript /payload/claude-tool.jsonl -- "$@"
{ node -e 'let s = 0; for (let i = 0; i < 1e7; i++) s += i; console.log("node-jit-ok")'
  touch "$HOME/.claude/probe" && echo home-writable
  touch /usr/local/probe 2>/dev/null || echo usr-read-only
  ls /home >/dev/null 2>&1 || echo home-hidden
  python3 -c 'import pty; pty.openpty(); print("pty-ok")'
  env | grep -q ORCHESTRA_TOKEN || echo no-token; } >/var/lib/orchestra/probe.tmp 2>&1
mv /var/lib/orchestra/probe.tmp /var/lib/orchestra/probe.txt
exec python3 /payload/fake_agent.py --transcript /payload/claude-tool.jsonl -- "$@"
EOF
    cat >"$payload/codex" <<'EOF'
#!/bin/sh
[ "$1" = --version ] && exec python3 /payload/fake_agent.py --transcript /payload/codex-tool.jsonl -- "$@"
setsid sh -c 'trap "" TERM; echo $$ >/var/lib/orchestra/escapee.pid; exec sleep 3600' </dev/null >/dev/null 2>&1 &
exec python3 /payload/fake_agent.py --transcript /payload/codex-tool.jsonl -- "$@"
EOF
    cat >"$payload/check.sh" <<'EOF'
set -eu
fail() { echo "in the container: $*" >&2; journalctl -u orchestra --no-pager -n 30 >&2; exit 1; }
install -m 0755 /payload/claude /payload/codex /usr/local/bin/
bash /payload/install.sh --pyz /payload/orchestra.pyz >/tmp/install.log 2>&1 || { cat /tmp/install.log; fail install.sh; }
# Only the hub creates its token (on its first start): wait for it rather than race the service's start.
for _ in $(seq 300); do T=$(orchestra token 2>/dev/null) && break; sleep 0.1; done; U=http://127.0.0.1:8000
api() { curl -fsS -H "Authorization: Bearer $T" -H 'Content-Type: application/json' "$@"; }
count() { api "$U/executions?project_id=$P&status=$1" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["executions"]))'; }
run_agents() {
    api -d "{\"project_id\": \"$P\"}" $U/launch >/dev/null
    for _ in $(seq 100); do
        [ "$(count running)" = 2 ] && [ -s /var/lib/orchestra/escapee.pid ] && [ -s /var/lib/orchestra/probe.txt ] && return
        sleep 0.1
    done
    fail "the agents never ran"
}
agents_gone() {
    for _ in $(seq 50); do
        pgrep -f 'fake_agent|sleep 3600' >/dev/null || return 0; sleep 0.1
    done
    fail "agent processes outlived the hub: $(pgrep -af 'fake_agent|sleep 3600')"
}
P=$(api -d '{"name": "systemd check"}' $U/projects | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
api -d '{"id": "c", "title": "c", "prompt": "@hang @child", "agent": "claude-code"}' $U/projects/$P/nodes >/dev/null
api -d '{"id": "x", "title": "x", "prompt": "@hang", "agent": "codex"}' $U/projects/$P/nodes >/dev/null

run_agents
t0=$(date +%s%N); systemctl stop orchestra; t1=$(date +%s%N)
agents_gone
[ "$(systemctl show -p Result --value orchestra)" = success ] || fail "stop: $(systemctl show -p Result orchestra)"
for want in node-jit-ok home-writable usr-read-only home-hidden no-token; do
    grep -qx "$want" /var/lib/orchestra/probe.txt || fail "sandbox probe: no $want in: $(cat /var/lib/orchestra/probe.txt)"
done
systemctl start orchestra
for _ in $(seq 300); do curl -fs $U/health >/dev/null && break; sleep 0.1; done
[ "$(count interrupted)" = 2 ] || fail "after stop: executions not interrupted"
echo "systemctl stop with two running agents: $(( (t1 - t0) / 1000000 )) ms; sandbox: $(tr '\n' ' ' </var/lib/orchestra/probe.txt)"

rm -f /var/lib/orchestra/escapee.pid
run_agents
kill -KILL "$(systemctl show -p MainPID --value orchestra)"
for _ in $(seq 300); do [ "$(systemctl show -p NRestarts --value orchestra)" = 1 ] && curl -fs $U/health >/dev/null && break; sleep 0.1; done
[ "$(systemctl show -p NRestarts --value orchestra)" = 1 ] || fail "no restart after a crash"
agents_gone
[ "$(count interrupted)" = 4 ] || fail "after the crash: executions not interrupted"
echo "hub SIGKILLed: systemd killed its agents and restarted it; executions interrupted"
EOF
    local nspawn_log=$tmp/nspawn.log
    systemd-nspawn -D "$rootfs" --ephemeral --private-network -b --register=no --keep-unit --console=passive \
        --bind-ro="$payload:/payload" >"$nspawn_log" 2>&1 &
    local nspawn=$! leader=""
    for _ in $(seq 300); do
        leader=$(pgrep -P "$nspawn" | head -n 1) || true
        if [ -n "$leader" ]; then
            state=$(nsenter -t "$leader" -a systemctl is-system-running 2>/dev/null) || true
            case "$state" in running|degraded) break ;; esac
        fi
        sleep 0.2
    done
    case "${state:-}" in running|degraded) ;; *) cat "$nspawn_log"; fail "the container did not boot" ;; esac
    nsenter -t "$leader" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        bash /payload/check.sh || { nsenter -t "$leader" -a systemctl poweroff; fail "the unit under systemd"; }
    nsenter -t "$leader" -a systemctl poweroff
    wait "$nspawn" || true
}

[ "${1:-}" = --systemd ] && systemd_boot_check

printf '\ndeploy-check: pyz %s bytes; start to /health cold %s s, warm %s s; SIGTERM to exit with a running agent %s s\n' \
    "$size" "$cold" "$warm" "$took"
