"""Pull requests through GitHub's REST API (or GitHub Enterprise's: ``ORCHESTRA_GITHUB_API``).

Three endpoints: list the open pull requests of a head branch (``GET /repos/{o}/{r}/pulls?head=o:branch``),
open one (``POST /repos/{o}/{r}/pulls``), update one (``PATCH /repos/{o}/{r}/pulls/{n}``). A second landing
of the same run finds the pull request its branch already has and updates its title and body.

httpx (already the hub's dependency; async under trio) rather than githubkit: three calls do not need its
generated models, and httpx takes any base URL, GitHub Enterprise's or a loopback stand-in's in tests.

A failure is a :class:`PullRequestError` carrying the API's own message (``message`` and each of
``errors``), with the token redacted: it is shown on the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from orchestra.workspaces.landing import redact

DEFAULT_API = "https://api.github.com"
TIMEOUT_S = 30.0
BODY_MAX_CHARS = 60_000  # GitHub refuses a body over 65,536 characters


class PullRequestError(Exception):
    """The API refused or could not be reached; the message is safe to show (no token)."""


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    created: bool  # False: the branch's open pull request was updated


def repository_slug(remote_url: str) -> str:
    """``owner/name`` from a remote's URL: its last two path segments (``https://github.com/o/n.git``,
    ``git@github.com:o/n.git``, ``file:///srv/o/n.git``)."""
    path = urlsplit(remote_url).path if "://" in remote_url else remote_url.rpartition(":")[2]
    parts = [part for part in path.rstrip("/").split("/") if part]
    if len(parts) < 2:
        raise PullRequestError(f"cannot tell the repository (owner/name) from the remote URL '{redact(remote_url)}'")
    return f"{parts[-2]}/{parts[-1].removesuffix('.git')}"


async def open_or_update(api: str, token: str, slug: str, head: str, base: str, title: str,
                         body: str) -> PullRequest:
    """Open a pull request of ``head`` into ``base``, or update the one ``head`` already has."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
               "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "orchestra-hub"}
    owner = slug.split("/", 1)[0]
    fields = {"title": title, "body": body[:BODY_MAX_CHARS]}
    try:
        async with httpx.AsyncClient(base_url=api.rstrip("/"), headers=headers, timeout=TIMEOUT_S) as client:
            listed = await _call(client, token, "GET", f"/repos/{slug}/pulls",
                                 params={"head": f"{owner}:{head}", "state": "open"})
            # the head filter is the server's; checked here too, so that a server ignoring it updates no other PR
            existing = next((pull for pull in listed if isinstance(pull, dict)
                             and (pull.get("head") or {}).get("ref") == head and "number" in pull), None)
            if existing is not None:
                updated = await _call(client, token, "PATCH", f"/repos/{slug}/pulls/{existing['number']}",
                                      json=fields | {"base": base})
                return PullRequest(int(updated["number"]), str(updated["html_url"]), created=False)
            opened = await _call(client, token, "POST", f"/repos/{slug}/pulls",
                                 json=fields | {"head": head, "base": base})
            return PullRequest(int(opened["number"]), str(opened["html_url"]), created=True)
    except httpx.HTTPError as exc:
        raise PullRequestError(redact(f"GitHub API at {api}: {exc.__class__.__name__}: {exc}", (token,))) from None


async def _call(client: httpx.AsyncClient, token: str, method: str, path: str, **kw: Any) -> Any:
    response = await client.request(method, path, **kw)
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code >= 400:
        raise PullRequestError(redact(f"GitHub API: {method} {path} answered {response.status_code}: "
                                      f"{_api_message(data, response.text)}", (token,)))
    expected = list if method == "GET" else dict
    if not isinstance(data, expected) or (isinstance(data, dict) and not {"number", "html_url"} <= data.keys()):
        raise PullRequestError(f"GitHub API: {method} {path} answered {response.status_code} without a pull request")
    return data


def _api_message(data: Any, text: str) -> str:
    """GitHub's error: its ``message`` and each of its ``errors`` (a message or a code on a field)."""
    if not isinstance(data, dict):
        return text[:500] or "no message"
    parts = [str(data.get("message") or "no message")]
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            parts.append(str(error.get("message") or f"{error.get('field', '?')}: {error.get('code', '?')}"))
        else:
            parts.append(str(error))
    return "; ".join(parts)[:1000]
