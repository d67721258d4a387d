"""The output directory of `hydrate render` is always right: after hand edits, killed or
interrupted renders, concurrent renders, full or read-only disks and corrupt manifests."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.render.resources import ResId
from pipeline.sinks import output
from tests import clirun
from tests.conftest import ROOT, copy_example, replace_in

NAMESPACES = "bases/namespaces/kustomization.yaml"
A, B = "app.kubernetes.io/part-of: platform\n", "app.kubernetes.io/part-of: platform-b\n"


def _to_b(config: Path) -> None:
    """A change that reaches every cluster (each class runs `namespaces`)."""
    replace_in(config / NAMESPACES, A, B)


def _to_a(config: Path) -> None:
    replace_in(config / NAMESPACES, B, A)


def _files(out: Path) -> dict[str, bytes]:
    """Every cluster file of an output directory (not the manifest, not leftovers)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(out).parts)}


def _hidden(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def _consistent(out: Path) -> list[str]:
    """Problems between the manifest and the cluster directories on disk."""
    clusters = output.read_manifest(out)["clusters"]
    on_disk = {f"{env.name}/{c.name}" for env in out.iterdir()
               if env.is_dir() and not env.name.startswith(".") for c in env.iterdir()}
    problems = [f"not in the manifest: {n}" for n in sorted(on_disk - set(clusters))]
    for name, entry in sorted(clusters.items()):
        directory = out / name
        files = {str(p.relative_to(directory)): p.read_bytes()
                 for p in directory.rglob("*") if p.is_file()}
        if output.digest(files) != entry["digest"]:
            problems.append(f"differs from the manifest: {name}")
    return problems


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path, Path]:
    """A render cache holding the example fleet in states A and B, and both renders."""
    base = tmp_path_factory.mktemp("warm")
    config = copy_example(base / "config")
    env = {"HYDRATE_CACHE_DIR": str(base / "cache")}
    assert clirun.run("--repo", config, "render", "--out", base / "a", env=env).code == 0
    _to_b(config)
    assert clirun.run("--repo", config, "render", "--out", base / "b", env=env).code == 0
    return env, base / "a", base / "b"


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT],
                         ids=["SIGKILL", "SIGTERM", "SIGINT"])
def test_a_render_interrupted_in_the_swap_leaves_no_stale_output(
        example: Path, warm: tuple[dict[str, str], Path, Path], signum: int) -> None:
    env, render_a, render_b = warm
    out = example / "rendered"
    assert clirun.run("--repo", example, "render", env=env).code == 0
    _to_b(example)
    # Stopped after two clusters were swapped in, with the third's old directory moved
    # away and its new one not yet in place: the worst moment.
    stopped = clirun.interrupted("--repo", example, "render", env=env, needle="/.staging",
                                 nth=3, signum=signum)
    if signum == signal.SIGKILL:
        assert stopped.code == -signal.SIGKILL
    else:
        # Ctrl-C and SIGTERM finish the swap in flight, then stop.
        assert stopped.code == {signal.SIGTERM: 143, signal.SIGINT: 130}[signum], stopped.err
        assert "hydrate: interrupted" in stopped.err
        assert "Traceback" not in stopped.err
        assert _hidden(out) == [".hydrate-render"]
        assert _consistent(out) == []
        assert _files(out) == _files(render_b)
    _to_a(example)
    again = clirun.run("--repo", example, "render", env=env)
    assert again.code == 0, again.err
    assert _files(out) == _files(render_a)
    assert _hidden(out) == [".hydrate-render"]  # a killed render's leftovers are gone
    assert _consistent(out) == []
    # Killed: the two clusters swapped in and the one in flight; else all of them.
    expected = ": 3 written, 15 unchanged" if signum == signal.SIGKILL else ": 18 written"
    assert again.out.splitlines()[0].endswith(expected)


def test_files_changed_by_hand_are_restored(example: Path,
                                           warm: tuple[dict[str, str], Path, Path]) -> None:
    env, render_a, _ = warm
    out = example / "rendered"
    assert clirun.run("--repo", example, "render", env=env).code == 0
    (out / "prod/store-0003/pos-app/kustomization.yaml").unlink()
    with (out / "dev/edge-lab/kustomization.yaml").open("a") as f:
        f.write("# edited\n")  # in place: same inode, same directory
    (out / "staging/store-0006/notes.yaml").write_text("kind: Stray\n")
    touched = out / "prod/dc-fra-1/kustomization.yaml"
    os.utime(touched, ns=(0, 0))  # its time changed, not its content
    again = clirun.run("--repo", example, "render", env=env)
    assert again.code == 0, again.err
    assert again.out.splitlines()[0].endswith(": 3 written, 15 unchanged")
    assert _files(out) == _files(render_a)
    assert touched.stat().st_mtime_ns == 0  # read back and found equal: not rewritten
    assert clirun.run("--repo", example, "render", env=env).out.splitlines()[0].endswith(
        ": 0 written, 18 unchanged")
    # Nothing changed since: not even the manifest is written again.
    before = (out / output.MARKER).stat()
    assert clirun.run("--repo", example, "render", env=env).code == 0
    after = (out / output.MARKER).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.parametrize("manifest", [
    '{"schemaVersion": 1, "clusters": {"dev/edge-lab": {"digest"',
    '{"schemaVersion": 1, "clusters": ["dev/edge-lab"]}',
    '{"schemaVersion": 1, "clusters": {"dev/edge-lab": "yes", "dev/store-lab": null}}',
    "[1, 2]",
    "\udcff not even text",
    "FORGED",
], ids=["truncated", "list", "wrong-types", "not-an-object", "binary", "forged"])
def test_a_corrupt_manifest_vouches_for_nothing(example: Path,
                                               warm: tuple[dict[str, str], Path, Path],
                                               manifest: str) -> None:
    env, render_a, _ = warm
    out = example / "rendered"
    assert clirun.run("--repo", example, "render", env=env).code == 0
    marker = out / output.MARKER
    if manifest == "FORGED":  # digests as they should be, stamps of nothing on disk
        data = json.loads(marker.read_text())
        for entry in data["clusters"].values():
            entry["stamp"] = "0" * 64
        manifest = json.dumps(data)
    marker.write_bytes(manifest.encode(errors="surrogateescape"))
    with (out / "dev/edge-lab/kustomization.yaml").open("a") as f:
        f.write("# edited\n")
    again = clirun.run("--repo", example, "render", env=env)
    assert again.code == 0, again.err
    assert _files(out) == _files(render_a)
    assert _consistent(out) == []


def test_a_second_writer_waits_for_the_first(example: Path,
                                            warm: tuple[dict[str, str], Path, Path]) -> None:
    env, _, render_b = warm
    out = example / "rendered"
    assert clirun.run("--repo", example, "render", env=env).code == 0
    _to_b(example)
    snapshot = _files(out)
    with clirun.holding_lock(out / output.LOCK):
        refused = clirun.run("--repo", example, "render", "--lock-timeout", "0", env=env)
        assert refused.code == 1
        lines = refused.err.strip().splitlines()
        assert len(lines) == 1
        assert f"pid {os.getpid()} is writing to it" in lines[0]
        assert str(out) in lines[0]
        assert _files(out) == snapshot
        waiting = subprocess.Popen([sys.executable, "-m", "pipeline", "--repo", example,
                                    "render"], cwd=ROOT, env=clirun.environment(env),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert waiting.stderr is not None
        told = waiting.stderr.readline()  # printed when it finds the lock taken
        assert f"pid {os.getpid()} is writing to it; waiting up to 60s" in told
        assert _files(out) == snapshot
    out_text, err = waiting.communicate(timeout=600)
    assert waiting.returncode == 0, err
    assert out_text.splitlines()[0].endswith(": 18 written")
    assert _files(out) == _files(render_b)
    assert _consistent(out) == []
    assert _hidden(out) == [".hydrate-render"]


def test_a_full_disk_is_an_error_naming_the_path(example: Path,
                                                warm: tuple[dict[str, str], Path, Path]) -> None:
    env, render_a, _ = warm
    out = example / "rendered"
    assert clirun.run("--repo", example, "render", env=env).code == 0
    _to_b(example)
    # Files over 3,000 bytes cannot be written (the cache is warm: no tool writes).
    full = clirun.run("--repo", example, "render", env=env,
                      preexec=[clirun.file_size_limit(3000)],
                      measured=False)  # coverage could not save its data either
    assert full.code == 1, full.err
    lines = full.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"hydrate: error: --out {out}: cannot write: File too large: "
                               f"{out}/")
    assert _files(out) == _files(render_a)
    assert _hidden(out) == [".hydrate-render"]
    assert _consistent(out) == []


def test_an_unwritable_output_is_an_error_naming_the_path(
        example: Path, tmp_path: Path, warm: tuple[dict[str, str], Path, Path]) -> None:
    env, render_a, _ = warm
    out = example / "rendered"
    assert clirun.run("--repo", example, "render", env=env).code == 0
    _to_b(example)
    out.chmod(0o555)
    try:
        denied = clirun.run("--repo", example, "render", env=env,
                            preexec=[clirun.honour_permissions])
    finally:
        out.chmod(0o755)
    assert denied.code == 1, denied.err
    assert denied.err.startswith(f"hydrate: error: --out {out}: cannot write: Permission denied: "
                                 f"{out}/")
    assert len(denied.err.strip().splitlines()) == 1
    assert _files(out) == _files(render_a)
    parent = tmp_path / "locked"
    parent.mkdir(mode=0o555)
    new = clirun.run("--repo", example, "render", "--out", parent / "out", env=env,
                     preexec=[clirun.honour_permissions])
    assert new.code == 1
    assert f"--out {parent / 'out'}: cannot write: Permission denied: {parent / 'out'}" in new.err


def test_out_must_be_a_directory(example: Path, warm: tuple[dict[str, str], Path, Path]) -> None:
    env, _, _ = warm
    (example / "notes").write_text("mine\n")
    result = clirun.run("--repo", example, "render", "--out", "notes", env=env)
    assert result.code == 1
    assert result.err == (f"hydrate: error: --out {example / 'notes'}: exists and is a file, not a "
                          "directory; give another path\n")
    assert (example / "notes").read_text() == "mine\n"
    inside = clirun.run("--repo", example, "render", "--cluster", "edge-lab", "--out", "notes/x",
                        env=env)
    assert inside.code == 1
    assert f"--out {example / 'notes/x'}: cannot write: Not a directory" in inside.err


def test_the_output_has_the_umasks_modes(example: Path,
                                         warm: tuple[dict[str, str], Path, Path]) -> None:
    env, _, _ = warm
    for umask, dirs, files in ((0o022, 0o755, 0o644), (0o027, 0o750, 0o640)):
        out = example / f"out-{umask:o}"
        result = clirun.run("--repo", example, "render", "--env", "dev", "--out", out, env=env,
                            preexec=[clirun.umask(umask)])
        assert result.code == 0, result.err
        modes = {stat.S_IMODE(p.stat().st_mode) for p in (out, out / "dev", out / "dev/edge-lab")}
        assert modes == {dirs}
        assert stat.S_IMODE((out / output.MARKER).stat().st_mode) == files
        assert stat.S_IMODE((out / "dev/edge-lab/kustomization.yaml").stat().st_mode) == files


def test_leftovers_of_killed_renders_are_removed(example: Path,
                                                 warm: tuple[dict[str, str], Path, Path]) -> None:
    env, render_a, _ = warm
    out = example / "rendered"
    assert clirun.run("--repo", example, "render", env=env).code == 0
    for name in (".staging", ".staging-k2j4a8x1/dev/edge-lab", ".trash-0f9s8d7a/prod--x",
                 ".trash/3"):
        (out / name).mkdir(parents=True)
        (out / name / "kustomization.yaml").write_text("stale\n")
    (out / ".manifest-u7q1w2e3").write_text("{}")
    beside = example / ".rendered.staging-abcd1234"  # an older version's new output
    (beside / "dev").mkdir(parents=True)
    again = clirun.run("--repo", example, "render", env=env)
    assert again.code == 0, again.err
    assert _hidden(out) == [".hydrate-render"]
    assert not beside.exists()
    assert _files(out) == _files(render_a)


def test_long_names_are_cut_by_the_whole_file_name() -> None:
    # docs/output.md: the part before `.yaml` is cut when it is over 200 characters, even
    # if the object's own name is shorter.
    short = ResId("apps", "Deployment", "pos", "p" * 150)
    assert short.filename == f"deployment.apps_pos_{'p' * 150}.yaml"
    long = ResId("apps", "Deployment", "n" * 40, "p" * 170)
    assert len(long.filename) == 205
    assert long.filename.startswith(f"deployment.apps_{'n' * 40}_ppp")
    assert long.filename[183] == "~"
    assert long.filename[184:200].isalnum()
    assert long.filename.endswith(".yaml")
    assert long.filename != ResId("apps", "Deployment", "n" * 40, "p" * 171).filename


@pytest.mark.parametrize("entry", [{"render": 7, "digest": "0" * 64},
                                   {"digest": 5},
                                   {"render": None}],
                         ids=["render-key-of-another-type", "digest-not-text", "no-render-key"])
def test_a_cluster_entry_with_odd_render_fields_is_checked_by_its_files(
        example: Path, warm: tuple[dict[str, str], Path, Path], entry: dict[str, object]) -> None:
    """The render key lets a cluster's recorded digest stand for its files; an entry whose
    key or digest is not what hydrate wrote vouches for nothing, and an edited file under
    it is rewritten."""
    env, render_a, _ = warm
    out = example / "rendered"
    assert clirun.run("--repo", example, "render", env=env).code == 0
    marker = out / output.MARKER
    data = json.loads(marker.read_text())
    data["clusters"]["dev/edge-lab"].update(entry)
    marker.write_text(json.dumps(data))
    with (out / "dev/edge-lab/kustomization.yaml").open("a") as f:
        f.write("# edited\n")
    again = clirun.run("--repo", example, "render", env=env)
    assert again.code == 0, again.err
    assert again.out.splitlines()[0].endswith(": 1 written, 17 unchanged")
    assert _files(out) == _files(render_a)
