"""What every command needs from the outside world (the repository, the environment,
progress and warnings, the cache, the tools and remotes made from them), passed in as
one `Context`, never global. The process environment is read once, where the CLI makes
the context; commands, and what they call, take it from `Context.environ`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this module at start-up: keep it light
    import pygit2

    from pipeline.config.model import Inventory
    from pipeline.config.source import DirTree, Tree
    from pipeline.render.cache import Cache
    from pipeline.render.tools import Toolset
    from pipeline.sinks.remote import Remote

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Context:
    """What every command needs from the outside world, passed in (never global)."""

    repo: Path
    environ: Mapping[str, str]
    progress: Progress | None = None
    cache_dir: Path | None = None  # None: HYDRATE_CACHE_DIR or the user cache directory
    use_cache: bool = True
    warn: Callable[[str], None] | None = None  # a problem worked around (e.g. no cache)
    _found: dict[str, Toolset] = field(default_factory=dict, init=False, repr=False,
                                       compare=False)  # the tools, once discovered

    def tree(self) -> DirTree:
        """The working tree, as a commit of it would hold it (git-ignored files left out)."""
        from pipeline.config.ignored import GitIgnore
        from pipeline.config.source import DirTree

        return DirTree(self.repo, GitIgnore.of(self.repo))

    def cache(self) -> Cache:
        """The tool-output cache for this invocation (open once, share between renders)."""
        from pipeline.render.cache import open_cache

        return open_cache(self.environ, self.cache_dir, self.use_cache, warn=self.warn)

    def cache_root(self) -> Path:
        """The cache directory: --cache-dir, else HYDRATE_CACHE_DIR or the user's."""
        from pipeline.render.cache import default_dir

        return self.cache_dir or default_dir(self.environ)

    def tools_memo(self) -> Path | None:
        """Where tool versions are remembered (in the cache directory), if caching."""
        if not self.use_cache:
            return None
        return self.cache_root() / "tools.json"

    def tools(self) -> Toolset:
        """The helm and kustomize renders use, with their versions: found once per context
        (their versions asked in a home of their own, remembered in the cache directory)."""
        if "tools" not in self._found:
            import tempfile

            from pipeline.render.tools import discover

            with tempfile.TemporaryDirectory(prefix="hydrate-tools-") as home:
                self._found["tools"] = discover(self.environ, Path(home), self.tools_memo())
        return self._found["tools"]

    def remote(self, repo: pygit2.Repository, spec: str | None) -> Remote | None:
        """The remote `spec` names for `repo` (`--remote NAME|URL`; None without one): TLS
        settings and credentials from the environment, git run in it."""
        if spec is None:
            return None
        from pipeline.sinks.credentials import Credentials, configure_tls
        from pipeline.sinks.remote import Remote

        configure_tls(self.environ)
        return Remote(repo, spec, Credentials.from_environ(self.environ), self.environ)


def load_inventory(ctx: Context) -> tuple[Tree, Inventory]:
    from pipeline.config import inventory as inventory_mod

    tree = ctx.tree()
    return tree, inventory_mod.load(tree, memo=ctx.cache())
