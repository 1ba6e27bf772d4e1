"""Pull requests on GitHub and Gitea, merge requests on GitLab: one interface, three forges' REST APIs.

:func:`open_or_update` opens a request of a head branch into a base branch, or, when that branch already
has an open one (a second landing of the same run), updates its title, text and base. Each forge takes
three calls, written out below as the forge's API documents them:

=======  =====================================================  ==============================================
forge    find the branch's open request                         open / update
=======  =====================================================  ==============================================
GitHub   ``GET /repos/{o}/{r}/pulls?head=o:B&state=open``        ``POST /repos/{o}/{r}/pulls`` /
         (``Authorization: Bearer``)                            ``PATCH …/pulls/{number}``
Gitea    ``GET /repos/{o}/{r}/pulls?state=open`` (no head       the same paths and fields as GitHub's
         filter: matched on ``head.ref`` here, page by page)    (``Authorization: token``)
GitLab   ``GET /projects/{id}/merge_requests?source_branch=B    ``POST /projects/{id}/merge_requests`` /
         &state=opened`` (``PRIVATE-TOKEN``; ``id`` is the      ``PUT …/merge_requests/{iid}``
         project's URL-encoded full path, nested groups too)    (``description``, ``target_branch``)
=======  =====================================================  ==============================================

httpx (already the hub's dependency; async under trio) rather than one client library per forge: three
calls each do not need generated models, and httpx takes any base URL — GitHub Enterprise's, a
self-managed GitLab's or Gitea's, a loopback stand-in's in tests.

A failure is a :class:`PullRequestError` carrying the API's own message (GitHub's and Gitea's ``message``
and ``errors``; GitLab's ``message`` — a text, a list, or messages per field — or ``error``), with every
token redacted: it is shown on the run. :func:`access` refuses, before anything is pushed, a forge the hub
has no token (or, for Gitea, no API URL) for (``LandingMisconfigured``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx

from orchestra.core.settings import Settings
from orchestra.workspaces.landing import LandingMisconfigured, redact

Forge = Literal["github", "gitlab", "gitea"]
DEFAULT_FORGE: Forge = "github"
DEFAULT_API = "https://api.github.com"
TIMEOUT_S = 30.0
BODY_MAX_CHARS = 60_000  # GitHub refuses a body over 65,536 characters (the smallest limit of the three)
GITEA_PAGE = 50  # open pull requests per page when Gitea's list is searched for the branch's
GITEA_MAX_PAGES = 20  # then the branch is taken to have none (Gitea refuses a duplicate: its message says so)


class PullRequestError(Exception):
    """The API refused or could not be reached; the message is safe to show (no token)."""


@dataclass(frozen=True)
class PullRequest:
    number: int  # GitHub's and Gitea's number, GitLab's iid (the "!N" of a merge request)
    url: str
    created: bool  # False: the branch's open pull request was updated


@dataclass(frozen=True)
class Access:
    """Where and as whom one forge's API is called; ``secrets``: every token to keep out of messages."""

    forge: Forge
    api: str
    token: str
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Dialect:
    name: str  # in messages: "GitLab API: …"
    noun: str  # "pull request" / "merge request"
    number: str  # the answer's key of the request's number
    url: str  # … and of its web page
    headers: Callable[[str], dict[str, str]]
    open_or_update: Callable[[_Api, str, str, str, str, str], Awaitable[PullRequest]]


def access(settings: Settings, forge: str | None) -> Access:
    """The hub's access to ``forge`` (None: GitHub); LandingMisconfigured naming each setting it lacks."""
    chosen: Forge = "gitlab" if forge == "gitlab" else "gitea" if forge == "gitea" else DEFAULT_FORGE
    api, token = {"github": (settings.github_api, settings.github_token),
                  "gitlab": (settings.gitlab_api, settings.gitlab_token),
                  "gitea": (settings.gitea_api, settings.gitea_token)}[chosen]
    dialect = DIALECTS[chosen]
    missing = []
    if not api:  # only Gitea has no default: it is self-hosted
        missing.append(f"the {dialect.name} API's URL (no default: it is self-hosted) in ORCHESTRA_"
                       f"{chosen.upper()}_API, e.g. https://gitea.example.com/api/v1")
    if not token:
        missing.append(f"a {dialect.name} token in ORCHESTRA_{chosen.upper()}_TOKEN")
    if missing:
        raise LandingMisconfigured(f"a {dialect.name} {dialect.noun} needs {' and '.join(missing)}: set "
                                   f"{'them' if len(missing) > 1 else 'it'} for the hub")
    assert api is not None and token is not None
    return Access(chosen, api, token, (token, *settings.forge_tokens))


def repository_path(remote_url: str, forge: str | None = None, api: str | None = None) -> str:
    """The repository a remote's URL names, as the forge's API does (``https://host/o/n.git``,
    ``git@host:o/n.git``, ``file:///srv/o/n.git``): ``owner/name``, its last two path segments, on GitHub
    and Gitea; on GitLab the project's whole path (``group/subgroup/name``: groups nest), without the
    instance's own path when ``api`` has one (``https://host/gitlab/api/v4``: an HTTP remote's path starts
    with ``/gitlab``)."""
    url = urlsplit(remote_url) if "://" in remote_url else None
    path = url.path if url is not None else remote_url.rpartition(":")[2]
    root = urlsplit(api).path.rstrip("/").removesuffix("/api/v4") if forge == "gitlab" and api else ""
    if root and url is not None and url.scheme in ("http", "https") and path.startswith(root + "/"):
        path = path[len(root):]
    parts = [part for part in path.rstrip("/").split("/") if part]
    if len(parts) < 2:
        raise PullRequestError(f"cannot tell the repository (owner/name) from the remote URL '{redact(remote_url)}'")
    parts[-1] = parts[-1].removesuffix(".git")
    return "/".join(parts if forge == "gitlab" else parts[-2:])


async def open_or_update(forge: Access, repository: str, head: str, base: str, title: str,
                         body: str) -> PullRequest:
    """Open a pull (merge) request of ``head`` into ``base``, or update the one ``head`` already has."""
    dialect = DIALECTS[forge.forge]
    secrets = (forge.token, *forge.secrets)
    try:
        async with httpx.AsyncClient(base_url=forge.api.rstrip("/"), headers=dialect.headers(forge.token),
                                     timeout=TIMEOUT_S) as client:
            return await dialect.open_or_update(_Api(client, dialect, secrets), repository, head, base, title,
                                                body[:BODY_MAX_CHARS])
    except httpx.HTTPError as exc:
        raise PullRequestError(redact(f"{dialect.name} API at {forge.api}: {exc.__class__.__name__}: {exc}",
                                      secrets)) from None


@dataclass(frozen=True)
class _Api:
    """One forge's API on one connection: each answer checked, each refusal the API's message, no token."""

    client: httpx.AsyncClient
    dialect: _Dialect
    secrets: tuple[str, ...]

    async def listed(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        data = await self._call("GET", path, params=params)
        if not isinstance(data, list):
            raise self._malformed("GET", path)
        return [item for item in data if isinstance(item, dict) and self.dialect.number in item]

    async def send(self, method: str, path: str, fields: dict[str, str], *, created: bool) -> PullRequest:
        data = await self._call(method, path, json=fields)
        if not isinstance(data, dict) or data.get(self.dialect.number) is None or not data.get(self.dialect.url):
            raise self._malformed(method, path)
        return PullRequest(int(data[self.dialect.number]), str(data[self.dialect.url]), created=created)

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        response = await self.client.request(method, path, **kw)
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            raise PullRequestError(redact(f"{self.dialect.name} API: {method} {path} answered "
                                          f"{response.status_code}: {_api_message(data, response.text)}",
                                          self.secrets))
        return data

    def _malformed(self, method: str, path: str) -> PullRequestError:
        return PullRequestError(f"{self.dialect.name} API: {method} {path} answered without a {self.dialect.noun}")


def _head_ref(request: dict[str, Any]) -> object:
    head = request.get("head")
    return head.get("ref") if isinstance(head, dict) else None


def _from(pull: dict[str, Any], repository: str) -> bool:
    """The pull request's head is a branch of ``repository`` itself, not a fork's of the same name."""
    head = pull.get("head")
    repo = head.get("repo") if isinstance(head, dict) else None
    name = repo.get("full_name") if isinstance(repo, dict) else None
    return not isinstance(name, str) or name.lower() == repository.lower()


async def _github(api: _Api, repository: str, head: str, base: str, title: str, body: str) -> PullRequest:
    owner = repository.split("/", 1)[0]
    listed = await api.listed(f"/repos/{repository}/pulls", {"head": f"{owner}:{head}", "state": "open"})
    # the head filter is the server's; checked here too, so that a server ignoring it updates no other PR
    existing = next((pull for pull in listed if _head_ref(pull) == head), None)
    return await _send_pull(api, repository, existing, head, base, title, body)


async def _gitea(api: _Api, repository: str, head: str, base: str, title: str, body: str) -> PullRequest:
    existing = None
    for page in range(1, GITEA_MAX_PAGES + 1):  # Gitea's list has no head filter: the branch's is looked for
        listed = await api.listed(f"/repos/{repository}/pulls",
                                  {"state": "open", "limit": GITEA_PAGE, "page": page})
        existing = next((pull for pull in listed if _head_ref(pull) == head and _from(pull, repository)), None)
        if existing is not None or len(listed) < GITEA_PAGE:
            break
    return await _send_pull(api, repository, existing, head, base, title, body)


async def _send_pull(api: _Api, repository: str, existing: dict[str, Any] | None, head: str, base: str,
                     title: str, body: str) -> PullRequest:
    """GitHub's and Gitea's: update the branch's open pull request (title, body, base), or open one."""
    fields = {"title": title, "body": body, "base": base}
    if existing is not None:
        return await api.send("PATCH", f"/repos/{repository}/pulls/{existing['number']}", fields, created=False)
    return await api.send("POST", f"/repos/{repository}/pulls", fields | {"head": head}, created=True)


async def _gitlab(api: _Api, repository: str, head: str, base: str, title: str, body: str) -> PullRequest:
    project = f"/projects/{quote(repository, safe='')}"  # "group/sub/name" → group%2Fsub%2Fname
    listed = await api.listed(f"{project}/merge_requests", {"source_branch": head, "state": "opened"})
    existing = next((request for request in listed if request.get("source_branch") == head), None)
    fields = {"title": title, "description": body, "target_branch": base}
    if existing is not None:
        return await api.send("PUT", f"{project}/merge_requests/{existing['iid']}", fields, created=False)
    return await api.send("POST", f"{project}/merge_requests", fields | {"source_branch": head}, created=True)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "orchestra-hub"}


DIALECTS: dict[str, _Dialect] = {
    "github": _Dialect("GitHub", "pull request", "number", "html_url", _bearer, _github),
    "gitea": _Dialect("Gitea", "pull request", "number", "html_url",
                      lambda token: {"Authorization": f"token {token}", "User-Agent": "orchestra-hub"}, _gitea),
    "gitlab": _Dialect("GitLab", "merge request", "iid", "web_url",
                       lambda token: {"PRIVATE-TOKEN": token, "User-Agent": "orchestra-hub"}, _gitlab),
}


def _api_message(data: Any, text: str) -> str:
    """The API's error: ``message`` (GitLab: also a list, or messages per field) or ``error``, then each of
    ``errors`` (GitHub: a message or a code on a field)."""
    if not isinstance(data, dict):
        return text[:500] or "no message"
    parts = _messages(data.get("message", data.get("error")))
    if isinstance(data.get("error_description"), str):
        parts.append(data["error_description"])
    errors = data.get("errors")
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            parts.append(str(error.get("message") or f"{error.get('field', '?')}: {error.get('code', '?')}"))
        else:
            parts.append(str(error))
    return "; ".join(parts)[:1000] or "no message"


def _messages(value: Any, field: str = "") -> list[str]:
    """``"x"``, ``["x", "y"]`` or ``{"title": ["can't be blank"]}`` as texts (``title: can't be blank``)."""
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in _messages(item, str(key))]
    if isinstance(value, list):
        return [text for item in value for text in _messages(item, field)]
    if value is None or value == "":
        return []
    return [f"{field}: {value}" if field else str(value)]
