"""What every command needs from the outside world (the repository, the environment,
progress and warnings, the cache), passed in as one `Context`, never global."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this module at start-up: keep it light
    from pipeline.config.model import Inventory
    from pipeline.config.source import DirTree, Tree
    from pipeline.render.cache import Cache

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


def load_inventory(ctx: Context) -> tuple[Tree, Inventory]:
    from pipeline.config import inventory as inventory_mod

    tree = ctx.tree()
    return tree, inventory_mod.load(tree, memo=ctx.cache())
