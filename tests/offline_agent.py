"""An agent for tests/test_sandbox.py: it writes its state under ~/.offline-agent and says whether it
could connect to the hub's port (its prompt: {"port": N}). Stdlib only."""

import json
import os
import socket
import sys

target = json.loads(sys.argv[1])
with open(os.path.expanduser("~/.offline-agent/state"), "w") as state:
    state.write("kept")
with socket.socket() as sock:
    try:
        sock.connect(("127.0.0.1", target["port"]))
        print("reached the hub")
    except OSError as exc:
        print("no network:", exc.errno)
