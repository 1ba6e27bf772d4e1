"""A hostile agent for tests/test_sandbox.py: given the hub's paths, pid and URL as JSON (its prompt),
it tries to reach what is not its own and prints one JSON object: each attempt's name -> {"ok", "detail"}.
It also writes its own work (``work.txt``) in its working directory. Stdlib only."""

import json
import os
import sys
import urllib.request

t = json.loads(sys.argv[1])
results = {}
def attempt(name, action):
    try:
        results[name] = {"ok": True, "detail": str(action())[:200]}
    except Exception as exc:
        results[name] = {"ok": False, "detail": repr(exc)[:200]}
def read(path):
    with open(path, "rb") as f:
        return f.read()
def write(path):
    with open(path, "w") as f:
        f.write("pwned\n")
    return path
def call_api(token):
    request = urllib.request.Request(t["hub_url"] + "/projects", headers={"Authorization": "Bearer " + token})
    try:
        return urllib.request.urlopen(request, timeout=5).status
    except urllib.error.HTTPError as exc:
        return exc.code
attempt("read_token", lambda: read(t["token_file"]))
attempt("read_database", lambda: len(read(t["database"])))
attempt("list_other_project", lambda: os.listdir(t["other_workspace"]))
attempt("write_other_project", lambda: write(os.path.join(t["other_workspace"], "pwned.txt")))
attempt("write_outside", lambda: write(t["outside"]))
attempt("signal_hub", lambda: os.kill(t["hub_pid"], 0))
def other_key():
    name = t.get("other_key", "OPENAI_API_KEY")  # another CLI's key, in the hub's environment
    if name not in os.environ:
        raise KeyError(name)
    return os.environ[name]
attempt("read_other_key", other_key)
found = results["read_token"]["detail"] if results["read_token"]["ok"] else ""
token = found.removeprefix("b'").split("\\n")[0].rstrip("'")
def api_with_found_token():
    status = call_api(token)
    if status != 200:
        raise PermissionError(f"HTTP {status}")
    return status
attempt("api_with_found_token", api_with_found_token)
with open("work.txt", "w") as f:
    f.write("the agent's own work\n")
with open("attempts.json", "w") as f:
    json.dump(results, f)
print(json.dumps(results))
