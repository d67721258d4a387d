"""The URL agents clone the environment branches from, in the forms they take.

Argo CD clones with git, which reads `https://`, `http://`, `ssh://` and the scp-like
`user@host:path`. Flux's GitRepository takes `http://`, `https://` and `ssh://` only (the
CRD's pattern, case-sensitive), and its git client (go-git) sends an ssh:// path to the
server as it is: `ssh://host/~/x` is not home-relative there as it is for git. So:

* an scp-like URL goes to Flux as `ssh://user@host/path` when that names the same
  repository: an absolute path, or a path on a git forge (where paths are not files);
  a path relative to the SSH user's home on another server is refused with the forms
  that work, since hydrate cannot know that home;
* other schemes (`git://`, `ftp://`, `file://`, ...), upper-case schemes, local paths
  and an scp-like URL without a user are refused for both agents.

Credentials never reach the objects hydrate prints: an https URL loses its user and
token, an ssh URL its password (its user is who the agent logs in as).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pipeline.errors import PipelineError
from pipeline.sinks.credentials import local_path

FORMS = "https://host/path, http://host/path, ssh://user@host[:port]/path or user@host:path"
# Forges whose SSH paths are repository names, not paths on disk: there
# `ssh://git@host/org/repo.git` is the same repository as `git@host:org/repo.git`.
FORGES = frozenset({"github.com", "gitlab.com", "bitbucket.org", "codeberg.org",
                    "ssh.dev.azure.com"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCP = re.compile(r"^(?:(?P<user>[^@/:\s]+)@)?(?P<host>[^@/:\s]+):(?P<path>[^\s]*)$")
_USERINFO = re.compile(r"(?<=://)[^/@]*@")


class UrlError(PipelineError):
    """A URL agents cannot clone; the message says which forms work."""


def _redacted(url: str) -> str:
    """`url` without a token: https loses its userinfo, ssh only its password."""
    match = _SCHEME.match(url)
    if match is None:
        return url
    if match.group(1).lower() == "ssh":
        return re.sub(r"(?<=://)([^/@:]*):[^/@]*@", r"\1@", url)
    return _USERINFO.sub("", url)


def check(url: str, what: str) -> str:
    """`url` (from `what`: "--repo-url" or "the origin remote") as agents get it, without
    credentials; UrlError naming the forms that work when no agent could clone it."""
    shown = _redacted(url)
    if not url or any(c.isspace() for c in url):
        raise UrlError(f"{what} {shown!r} is not a URL (it is empty or holds white space); "
                       f"give one of {FORMS}")
    scheme = _SCHEME.match(url)
    if scheme is not None:
        name = scheme.group(1)
        if name.lower() in ("https", "http", "ssh") and name != name.lower():
            raise UrlError(f"{what} {shown}: write the scheme in lower case "
                           f"({name.lower()}://...); Flux's GitRepository refuses {name}://")
        if name == "file":
            raise UrlError(f"{what} {shown} is a path on this machine, which agents in the "
                           f"clusters cannot clone; give the URL they clone from: {FORMS}")
        if name in ("git+ssh", "ssh+git"):
            raise UrlError(f"{what} {shown}: write it as ssh://{url[scheme.end():]} "
                           "(Flux's GitRepository takes ssh:// only)")
        if name not in ("https", "http", "ssh"):
            raise UrlError(f"{what} {shown}: agents clone {FORMS}, not {name}://")
        if not urlsplit(url).hostname:
            raise UrlError(f"{what} {shown} names no host; give one of {FORMS}")
        return shown
    if local_path(url) is not None:
        raise UrlError(f"{what} {shown} is a path on this machine, which agents in the "
                       f"clusters cannot clone; give the URL they clone from: {FORMS}")
    scp = _SCP.match(url)
    if scp is None:
        raise UrlError(f"{what} {shown} is not a URL agents can clone; give one of {FORMS}")
    if not scp["user"]:
        raise UrlError(f"{what} {shown} names no SSH user, and the agents' would not be the "
                       f"right one: give it, as in git@{scp['host']}:{scp['path']} or "
                       f"ssh://git@{scp['host']}/{scp['path'].lstrip('/')}")
    return shown


def for_flux(url: str, what: str) -> str:
    """A URL `check` accepted, in the form Flux's GitRepository takes (`ssh://` for an
    scp-like one); UrlError when no ssh:// URL names the same repository for go-git."""
    if _SCHEME.match(url):
        if url.startswith("ssh://") and urlsplit(url).path.startswith("/~"):
            raise UrlError(f"{what} {url}: Flux's git client sends the path to the server as it "
                           "is, so ~ is not the SSH user's home there: give the absolute path, "
                           f"as in ssh://{urlsplit(url).netloc}/home/<user>{urlsplit(url).path[2:]}")
        return url
    scp = _SCP.match(url)
    assert scp is not None, "check() refuses the rest"
    user, host, path = scp["user"], scp["host"], scp["path"]
    if path.startswith("/"):
        return f"ssh://{user}@{host}{path}"
    if host.lower() in FORGES and not path.startswith("~"):
        return f"ssh://{user}@{host}/{path}"
    relative = path.removeprefix("~/").removeprefix("~")
    raise UrlError(
        f"{what} {url}: Flux takes ssh:// URLs only, whose path starts at the server's root, "
        f"while {host}:{path} is relative to the SSH user's home: give --repo-url "
        f"ssh://{user}@{host}/{relative} if {host} is a git forge (GitLab, Gitea, Bitbucket...), "
        f"or the absolute path for a plain SSH server, e.g. "
        f"ssh://{user}@{host}/home/{user}/{relative}")
