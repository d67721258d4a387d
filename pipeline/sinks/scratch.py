"""A scratch view of a repository: it reads everything the repository holds (objects,
refs, remotes, who commits) and writes only into a folder of its own, removed when it is
done. A dry run works in one, so it leaves nothing behind: no object, no ref, no note, not
even what it fetched."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pygit2

from pipeline.sinks.credentials import local_path


def _absolute(url: str, top: Path) -> str:
    """`url`, with a relative local path made absolute (from the repository's top)."""
    path = local_path(url)
    if path is None or path.is_absolute() or url.startswith("file://"):
        return url
    return str((top / path).resolve())


@contextlib.contextmanager
def view(repo: pygit2.Repository) -> Iterator[pygit2.Repository]:
    """A repository that sees `repo`'s objects (as alternates), refs, remotes and user,
    and writes elsewhere; gone when the block ends."""
    with tempfile.TemporaryDirectory(prefix="hydrate-scratch-") as folder:
        gitdir = Path(folder) / "repo.git"
        made = pygit2.init_repository(str(gitdir), bare=True)
        source = Path(repo.path)
        alternates = [str((source / "objects").resolve())]
        theirs = source / "objects" / "info" / "alternates"
        if theirs.is_file():
            alternates += [line for line in theirs.read_text().splitlines() if line.strip()]
        (gitdir / "objects" / "info" / "alternates").write_text("\n".join(alternates) + "\n")
        if (source / "shallow").is_file():
            shutil.copyfile(source / "shallow", gitdir / "shallow")
        made = pygit2.Repository(str(gitdir))
        top = Path(repo.workdir or repo.path)
        for name in repo.remotes.names():
            if name is None:
                continue
            them = repo.remotes[name]
            made.remotes.create(name, _absolute(them.url or "", top))
            if them.push_url:
                made.remotes.set_push_url(name, _absolute(them.push_url, top))
        for key in ("user.name", "user.email"):
            if key in repo.config:
                made.config[key] = str(repo.config[key])
        symbolic = pygit2.enums.ReferenceType.SYMBOLIC
        for name in repo.references:
            ref = repo.references[name]
            made.references.create(name, str(ref.target) if ref.type == symbolic else ref.target,
                                   force=True)
        head = repo.references.get("HEAD")
        if repo.head_is_detached:
            made.set_head(repo.head.target)
        elif head is not None:
            made.references.create("HEAD", str(head.target), force=True)
        yield made
