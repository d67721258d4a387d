"""The remote a promotion command reads and writes (`--remote NAME|URL`), built in one
place: TLS settings and credentials come from the environment."""

from __future__ import annotations

import pygit2

from pipeline.commands.context import Context
from pipeline.sinks.credentials import Credentials, configure_tls
from pipeline.sinks.remote import Remote


def open_remote(ctx: Context, repo: pygit2.Repository, spec: str | None) -> Remote | None:
    """The remote `spec` names for `repo` (None without one)."""
    if spec is None:
        return None
    configure_tls(ctx.environ)
    return Remote(repo, spec, Credentials.from_environ(ctx.environ), ctx.environ)
