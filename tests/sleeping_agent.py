"""An agent for tests/test_sandbox.py that never ends on its own: it starts a child and a grandchild
that leaves its process group (setsid), says "ready", and sleeps until killed. Stdlib only."""

import subprocess
import sys
import time

subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(3600)"])
print("ready", flush=True)
time.sleep(3600)
