#!/usr/bin/env bash
# Install or upgrade Orchestra as a systemd service on Debian/Ubuntu. Run as root:
#
#   sudo bash install.sh [--pyz FILE]
#
# Installs python3 if missing, creates the `orchestra` system user (home /var/lib/orchestra, where the
# agent CLIs keep their config), puts the pyz in /opt/orchestra, the unit in /etc/systemd/system,
# /etc/orchestra/orchestra.env from the example (only if absent), and /usr/local/bin/orchestra, a
# wrapper that runs operator commands (url, token, backup FILE) as the service user with the
# service's environment, and /usr/local/bin/orchestra-connect-info, which `orchestra connect` runs over
# SSH for the hub's port and token. Then enables and (re)starts the unit, waits for /health and prints the SSH
# tunnel command and the login URL. Re-running it upgrades in place: the database and the token stay
# where they are, and a pre-upgrade backup of the database is kept in /var/lib/orchestra/backups.
#
# For tests, without systemd or a system user:
#   --root DIR       install under DIR instead of / (paths written into files are prefixed too)
#   --no-systemctl   do not call systemctl (no enable/restart/health wait)
#   --no-user        do not create a user; files belong to the caller, commands run as the caller
# PYTHON=/path/to/python overrides the interpreter used by the wrapper (not by the unit).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pyz=""
root=""
use_systemctl=1
make_user=1
service_user=orchestra
python=${PYTHON:-/usr/bin/python3}

die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --pyz) pyz=$2; shift 2 ;;
        --root) root=$(realpath -m "$2"); shift 2 ;;
        --no-systemctl) use_systemctl=0; shift ;;
        --no-user) make_user=0; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

if [ -z "$pyz" ]; then
    for candidate in "$here/orchestra.pyz" "$here/../dist/orchestra.pyz"; do
        [ -f "$candidate" ] && { pyz=$candidate; break; }
    done
fi
[ -n "$pyz" ] && [ -f "$pyz" ] || die "no orchestra.pyz found: build it with 'make dist' or pass --pyz FILE"
[ -n "$root" ] || [ "$(id -u)" = 0 ] || die "run me as root (sudo bash $0)"

state=$root/var/lib/orchestra
cache=$root/var/cache/orchestra
opt=$root/opt/orchestra
etc=$root/etc/orchestra
unit=$root/etc/systemd/system/orchestra.service
wrapper=$root/usr/local/bin/orchestra

# -- python3 (3.11 or newer: the pyz carries compiled modules for 3.11-3.14) -------------------------
if ! [ -x "$python" ]; then
    [ -z "$root" ] || die "$python not found"
    echo "installing python3..."
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3
fi
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$python is $("$python" -V 2>&1); Orchestra needs Python 3.11 or newer (Debian 12, Ubuntu 24.04)"

# -- the service user --------------------------------------------------------------------------------
if [ "$make_user" = 1 ]; then
    if ! id "$service_user" >/dev/null 2>&1; then
        # A system user with a locked password; bash as its shell because the agent CLIs run their
        # tools through the user's shell, and with a real home for their logins and settings.
        useradd --system --user-group --home-dir /var/lib/orchestra --shell /bin/bash \
            --comment "Orchestra hub" "$service_user"
    fi
    home=$(getent passwd "$service_user" | cut -d: -f6)
    [ "$home" = /var/lib/orchestra ] || echo "warning: $service_user's home is $home, not /var/lib/orchestra;" \
        "the unit hides /home (ProtectHome=yes), so agent config must live in /var/lib/orchestra" >&2
    owner=$service_user:$service_user
else
    owner=$(id -u):$(id -g)
fi

# -- directories (StateDirectory= would create the first two too, but logins come before a start) ---
install -d -m 0700 "$state" "$cache"
for d in workspaces backups .claude .codex .gemini; do install -d -m 0700 "$state/$d"; done
chown "$owner" "$state" "$cache" "$state"/workspaces "$state"/backups "$state"/.claude "$state"/.codex "$state"/.gemini
install -d -m 0755 "$opt" "$etc" "$(dirname "$unit")" "$(dirname "$wrapper")"

# -- the wrapper: the unit's Environment= lines, then the operator's env file -------------------------
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
    echo '#!/bin/sh'
    echo '# Written by systemd/install.sh: run an Orchestra command (url, token, backup FILE, projects...)'
    echo '# as the service user, with the environment of orchestra.service. Run it as root.'
    echo 'set -a'
    sed -n 's/^Environment=//p' "$here/orchestra.service" \
        | sed -e "s|/var/lib/orchestra|$state|g" -e "s|/var/cache/orchestra|$cache|g"
    echo "HOME=$state"
    echo "[ -r $etc/orchestra.env ] && . $etc/orchestra.env"
    echo 'set +a'
    if [ "$make_user" = 1 ]; then
        # An absolute path: the PATH set above is the service's, without /usr/sbin.
        echo "exec $(command -v runuser || echo /usr/sbin/runuser) -u $service_user -- $python $opt/orchestra.pyz \"\$@\""
    else
        echo "exec $python $opt/orchestra.pyz \"\$@\""
    fi
} > "$tmp"
install -m 0755 "$tmp" "$wrapper"

# -- orchestra-connect-info: what `orchestra connect` on a laptop runs over SSH -----------------------
# It prints the hub's port and token as one JSON line (`orchestra connect-info`). The token is the
# service user's, so anyone but root asks sudo, never for a password (-n): root, members of the
# orchestra group (the sudoers drop-in below: `sudo usermod -aG orchestra alice`) and users with
# passwordless sudo may connect; anyone else gets one line saying so.
helper=$root/usr/local/bin/orchestra-connect-info
{
    echo '#!/bin/sh'
    echo '# Written by systemd/install.sh: prints the hub'"'"'s port and token for `orchestra connect`.'
    if [ "$make_user" = 1 ]; then
        echo 'if [ "$(id -u)" != 0 ]; then'
        echo "    if ! sudo -n -l $wrapper connect-info >/dev/null 2>&1; then"
        echo '        echo "orchestra-connect-info: $(id -un) may not read the hub'"'"'s token: on the VM, sudo usermod -aG' \
            "$service_user"' $(id -un) (then log in again), or connect as root" >&2'
        echo '        exit 1'
        echo '    fi'
        echo "    exec sudo -n $wrapper connect-info"
        echo 'fi'
    fi
    echo "exec $wrapper connect-info"
} > "$tmp"
install -m 0755 "$tmp" "$helper"
if [ "$make_user" = 1 ]; then
    sudoers=$root/etc/sudoers.d/orchestra
    install -d -m 0755 "$(dirname "$sudoers")"
    echo "# Written by systemd/install.sh: members of $service_user may fetch the hub's token (orchestra connect)." > "$tmp"
    echo "%$service_user ALL=(root) NOPASSWD: /usr/local/bin/orchestra connect-info" >> "$tmp"
    if ! command -v visudo >/dev/null || visudo -cqf "$tmp"; then
        install -m 0440 "$tmp" "$sudoers"
    fi
fi

# -- an upgrade starts with a copy of the database ----------------------------------------------------
if [ -f "$state/orchestra.db" ] && [ -f "$opt/orchestra.pyz" ]; then
    copy=$state/backups/pre-upgrade-$(date +%Y%m%d-%H%M%S).db
    "$wrapper" backup "$copy" || die "pre-upgrade backup failed; the installed hub was left as it was"
    # keep the five newest
    ls -1t "$state"/backups/pre-upgrade-*.db | tail -n +6 | xargs -r rm -f
fi

# -- files: pyz (atomically replaced), unit, env file (never overwritten), docs ----------------------
install -m 0755 "$pyz" "$opt/orchestra.pyz.new" && mv -f "$opt/orchestra.pyz.new" "$opt/orchestra.pyz"
install -m 0644 "$here/orchestra.service" "$unit"
install -m 0644 "$here/orchestra.env.example" "$etc/orchestra.env.example"
[ -f "$etc/orchestra.env" ] || install -m 0600 "$here/orchestra.env.example" "$etc/orchestra.env"
for doc in "$here/VM_SETUP.md" "$here/../docs/VM_SETUP.md"; do
    [ -f "$doc" ] && { install -m 0644 "$doc" "$opt/VM_SETUP.md"; break; }
done

# -- start -------------------------------------------------------------------------------------------
if [ "$use_systemctl" = 1 ]; then
    systemctl daemon-reload
    systemctl enable orchestra.service >/dev/null
    systemctl restart orchestra.service
    echo "waiting for the hub..."
    port=$(ORCHESTRA_PORT=8000; [ -r "$etc/orchestra.env" ] && . "$etc/orchestra.env"; echo "$ORCHESTRA_PORT")
    "$python" - "$port" <<'EOF' || die "the hub did not answer /health within 60 s: journalctl -u orchestra -n 50"
import sys, time, urllib.request
deadline = time.monotonic() + 60
while True:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=2).read()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.5)
EOF
fi

# Earlier releases' unpacked copies (shiv names them orchestra.pyz_<build id>) are no longer used.
build_id=$("$python" -c 'import json, sys, zipfile
print(json.loads(zipfile.ZipFile(sys.argv[1]).read("environment.json"))["build_id"])' "$opt/orchestra.pyz" 2>/dev/null || true)
if [ -n "$build_id" ]; then
    for old in "$cache"/orchestra.pyz_* "$cache"/.orchestra.pyz_*_lock; do
        [ -e "$old" ] || continue
        case "$old" in *"$build_id"*) ;; *) rm -rf "$old" ;; esac
    done
fi

# Only the hub creates its token, on its first start: without systemctl it has not started yet.
url=$("$wrapper" url 2>/dev/null || echo "(the login link, once the hub has started: sudo orchestra url)")
cat <<EOF

Orchestra is installed ($("$wrapper" --version)).
  data:     $state (database, token, workspaces, agent CLI config)
  settings: $etc/orchestra.env (API keys; then: systemctl restart orchestra)
  logs:     journalctl -u orchestra -f
  commands: sudo orchestra url | token | backup FILE

From your machine (the client: pip install http://localhost:8000/client/<wheel> through a tunnel, as
GET /client/ prints it; or a clone), one command opens the tunnel and the UI:
  orchestra connect ${SUDO_USER:-$(id -un)}@$(timeout 2 hostname -f 2>/dev/null || hostname)
(a user other than root needs: sudo usermod -aG $service_user USER). By hand instead:
  ssh -L 8000:localhost:8000 -L 8001:localhost:8001 ${SUDO_USER:-$(id -un)}@$(timeout 2 hostname -f 2>/dev/null || hostname)
then open:
  $url
EOF
