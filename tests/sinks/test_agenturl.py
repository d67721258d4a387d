"""The URL forms agents clone: what `hydrate bootstrap` accepts, converts, redacts and
refuses, checked against Flux's GitRepository schema (tests/data/crds/)."""

from __future__ import annotations

import pytest

from pipeline.sinks import agenturl
from tests.sinks.test_agents import validate


def _flux(url: str) -> str:
    converted = agenturl.for_flux(agenturl.check(url, "--repo-url"), "--repo-url")
    validate({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
              "metadata": {"name": "hydrate"}, "spec": {"interval": "1m", "url": converted}})
    return converted


@pytest.mark.parametrize(("given", "argocd", "flux"), [
    ("https://github.com/acme/fleet.git", "https://github.com/acme/fleet.git",
     "https://github.com/acme/fleet.git"),
    ("http://git.internal:8080/fleet.git", "http://git.internal:8080/fleet.git",
     "http://git.internal:8080/fleet.git"),
    ("ssh://git@git.internal:2222/srv/fleet.git", "ssh://git@git.internal:2222/srv/fleet.git",
     "ssh://git@git.internal:2222/srv/fleet.git"),
    # A forge's scp path is a repository name: the ssh:// form names the same one.
    ("git@github.com:acme/fleet.git", "git@github.com:acme/fleet.git",
     "ssh://git@github.com/acme/fleet.git"),
    # An absolute scp path is the same path in an ssh:// URL.
    ("git@server:/srv/git/fleet.git", "git@server:/srv/git/fleet.git",
     "ssh://git@server/srv/git/fleet.git"),
    ("git@GitHub.com:acme/fleet.git", "git@GitHub.com:acme/fleet.git",
     "ssh://git@GitHub.com/acme/fleet.git"),
    # Tokens never reach the objects; an ssh user is who the agent logs in as and stays.
    ("https://x-access-token:s3cret@github.com/acme/fleet.git",
     "https://github.com/acme/fleet.git", "https://github.com/acme/fleet.git"),
    ("https://ghp_s3cret@github.com/acme/fleet.git", "https://github.com/acme/fleet.git",
     "https://github.com/acme/fleet.git"),
    ("ssh://git:s3cret@server/srv/fleet.git", "ssh://git@server/srv/fleet.git",
     "ssh://git@server/srv/fleet.git"),
])
def test_the_forms_agents_clone(given: str, argocd: str, flux: str) -> None:
    assert agenturl.check(given, "--repo-url") == argocd
    assert _flux(given) == flux


@pytest.mark.parametrize(("given", "says"), [
    ("git://github.com/acme/fleet.git", "not git://"),
    ("ftp://files.acme.example/fleet.git", "not ftp://"),
    ("file:///srv/git/fleet.git", "is a path on this machine"),
    ("/srv/git/fleet.git", "is a path on this machine"),
    ("../fleet.git", "is a path on this machine"),
    ("HTTPS://github.com/acme/fleet.git", "write the scheme in lower case (https://...)"),
    ("Ssh://git@server/srv/fleet.git", "write the scheme in lower case (ssh://...)"),
    ("git+ssh://git@server/srv/fleet.git", "write it as ssh://git@server/srv/fleet.git"),
    ("server:repos/fleet.git", "names no SSH user"),
    ("https:///acme/fleet.git", "names no host"),
    ("https://github.com/acme/fleet.git\nkind: Secret", "holds white space"),
    ("", "is empty"),
])
def test_forms_no_agent_clones_are_refused_with_the_ones_that_work(given: str, says: str) -> None:
    with pytest.raises(agenturl.UrlError) as caught:
        agenturl.check(given, "--repo-url")
    message = str(caught.value)
    assert says in message
    assert "\n" not in message
    if "no SSH user" in says:
        assert "git@server:repos/fleet.git or ssh://git@server/repos/fleet.git" in message
    elif "scheme" not in says and "write it" not in says:
        assert agenturl.FORMS in message


def test_a_home_relative_path_is_refused_for_flux_with_both_right_forms() -> None:
    # git@server:repos/x is ~git/repos/x on a plain SSH server; Flux's ssh:// path starts
    # at the root, and go-git sends /~/ unexpanded: no ssh:// URL is sure to mean it.
    for given in ("git@server:repos/fleet.git", "git@server:~/repos/fleet.git",
                  "git@github.com:~/fleet.git"):
        assert agenturl.check(given, "--repo-url") == given  # Argo CD clones it with git
        with pytest.raises(agenturl.UrlError) as caught:
            agenturl.for_flux(given, "--repo-url")
        host = given.split("@")[1].split(":")[0]
        relative = given.split(":")[1].removeprefix("~/")
        assert f"ssh://git@{host}/{relative} if {host} is a git forge" in str(caught.value)
        assert f"ssh://git@{host}/home/git/{relative}" in str(caught.value)
    with pytest.raises(agenturl.UrlError, match="~ is not the SSH user's home there"):
        agenturl.for_flux("ssh://git@server/~/repos/fleet.git", "--repo-url")
