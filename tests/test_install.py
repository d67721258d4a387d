"""hydrate outside its repository: `hydrate tools install` / `show`, where renders look
for helm and kustomize, and the wheel (built from an sdist of the tree, installed into a
fresh virtual environment, run from a folder outside the repository)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from pipeline import DISTRIBUTION, __version__, pins
from pipeline.errors import ToolError
from pipeline.render import toolinstall
from pipeline.render.tools import ON_PATH, PYTHON_FOLDER, USER_TOOLS, locate
from tests.conftest import ROOT, hydrate

HERE = Path(sys.executable).parent  # where scripts/bootstrap put the pinned binaries
TARBALL = ROOT / ".tools" / toolinstall.tarball_name()  # scripts/bootstrap's download


def _layer(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def impostor(tmp_path: Path) -> dict[str, Path]:
    """A package of the right shape whose binaries are not the pinned ones: as the .tgz
    `npm pack` gives, and as the bare layer.zip."""
    layer = _layer({"helm/helm": b"#!/bin/sh\necho v4.1.4\n", "kubectl/kubectl": b"#!/bin/sh\n"})
    (tmp_path / "layer.zip").write_bytes(layer)
    with tarfile.open(tmp_path / "package.tgz", "w:gz") as tar:
        info = tarfile.TarInfo(pins.LAYER)
        info.size = len(layer)
        tar.addfile(info, io.BytesIO(layer))
    return {"tgz": tmp_path / "package.tgz", "zip": tmp_path / "layer.zip"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _executable(path: Path, text: str = "#!/bin/sh\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_the_installer_needs_only_the_standard_library() -> None:
    """scripts/bootstrap may run it before anything is installed: no site-packages."""
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); import pipeline.render.toolinstall"
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("kind", ["tgz", "zip"])
def test_binaries_that_are_not_the_pinned_ones_are_refused_and_nothing_placed(
        tmp_path: Path, impostor: dict[str, Path], kind: str) -> None:
    dest = tmp_path / "tools"
    result = hydrate("tools", "install", "--dest", dest, "--from", impostor[kind],
                     env={"PATH": str(tmp_path / "empty")})
    assert result.code == 1, result.err
    assert result.err.startswith(f"hydrate: error: helm in {impostor[kind]}: checksum mismatch "
                                 f"(expected {pins.PINS[0].sha256}, got ")
    assert len(result.err.splitlines()) == 1
    assert list(dest.iterdir()) == []  # not even a temporary file


def test_a_file_that_is_not_the_package_says_what_to_give(tmp_path: Path) -> None:
    wrong = tmp_path / "helm.tar.gz"
    with tarfile.open(wrong, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("helm"), io.BytesIO(b""))
    result = hydrate("tools", "install", "--dest", tmp_path / "tools", "--from", wrong,
                     env={"PATH": ""})
    assert result.code == 1
    assert f"{wrong}: not the {pins.PACKAGE} package" in result.err


@pytest.mark.skipif(not TARBALL.is_file(), reason="no package downloaded: run scripts/bootstrap")
def test_install_from_the_package_places_the_pinned_binaries_once(
        tmp_path: Path, impostor: dict[str, Path]) -> None:
    dest = tmp_path / "tools"
    result = hydrate("tools", "install", "--dest", dest, "--from", TARBALL,
                     env={"PATH": str(tmp_path / "empty")})
    assert result.code == 0, result.err
    for pin in pins.PINS:
        assert _sha256(dest / pin.name) == pin.sha256
        assert toolinstall.fits(dest / pin.name, pin)
        assert f"{pin.wanted}: installed into {dest} from {TARBALL}" in result.err
    assert sorted(p.name for p in dest.iterdir()) == [".hydrate-tools", "helm", "kubectl"]
    assert f"renders do not look in {dest}: put it on PATH" in result.err
    # Present: kept as they are, without reading the (wrong) file it is given.
    again = hydrate("tools", "install", "--dest", dest, "--from", impostor["tgz"],
                    env={"PATH": str(tmp_path / "empty")})
    assert again.code == 0, again.err
    assert f"helm v4.1.4: already in {dest}" in again.err
    assert _sha256(dest / "helm") == pins.PINS[0].sha256


@pytest.mark.skipif(not TARBALL.is_file(), reason="no package downloaded: run scripts/bootstrap")
def test_a_helm_in_dest_that_hydrate_did_not_place_is_never_replaced(tmp_path: Path) -> None:
    dest = tmp_path / "bin"
    dest.mkdir()
    theirs = _executable(dest / "kubectl", "#!/bin/sh\necho 'their kubectl'\n")
    before = theirs.read_bytes()
    env = {"PATH": str(tmp_path / "empty")}
    result = hydrate("tools", "install", "--dest", dest, "--from", TARBALL, env=env)
    assert (result.code, result.err) == (1, f"hydrate: error: {theirs}: is not the pinned "
                                            f"{pins.PINS[1].wanted} and was not installed by hydrate; "
                                            "hydrate does not replace it: remove it, or choose "
                                            "another --dest\n")
    assert sorted(p.name for p in dest.iterdir()) == ["kubectl"]  # not even helm: all or nothing
    assert theirs.read_bytes() == before
    theirs.unlink()
    os.mkfifo(dest / "helm")
    fifo = hydrate("tools", "install", "--dest", dest, "--from", TARBALL, env=env)
    assert fifo.err == (f"hydrate: error: {dest / 'helm'}: is not a file; hydrate does not replace "
                        "it: move it away, or choose another --dest\n")
    (dest / "helm").unlink()
    # What hydrate placed it replaces (a later pin), unless someone changed it meanwhile.
    assert hydrate("tools", "install", "--dest", dest, "--from", TARBALL, env=env).code == 0
    (dest / "kubectl").write_bytes(b"#!/bin/sh\necho edited\n")
    edited = hydrate("tools", "install", "--dest", dest, "--from", TARBALL, env=env)
    assert edited.code == 1
    assert f"{dest / 'kubectl'}: is not the pinned" in edited.err
    record = json.loads((dest / ".hydrate-tools").read_text())
    record["kubectl"] = _sha256(dest / "kubectl")  # as if hydrate had placed this one
    (dest / ".hydrate-tools").write_text(json.dumps(record))
    again = hydrate("tools", "install", "--dest", dest, "--from", TARBALL, env=env)
    assert again.code == 0, again.err
    assert _sha256(dest / "kubectl") == pins.PINS[1].sha256


def test_pinned_binaries_on_path_are_linked_even_where_the_pins_do_not_run(
        tmp_path: Path, impostor: dict[str, Path]) -> None:
    placed = toolinstall.install(tmp_path / "tools", {"PATH": str(HERE)}, source=impostor["tgz"],
                                 machine="darwin-arm64")
    assert [(p.pin.name, p.how) for p in placed] == [("helm", "linked"), ("kubectl", "linked")]
    assert (tmp_path / "tools" / "helm").resolve() == (HERE / "helm").resolve()


def test_a_machine_the_pins_do_not_run_on_is_told_what_to_do(
        tmp_path: Path, impostor: dict[str, Path]) -> None:
    with pytest.raises(ToolError, match=r"the pinned binaries are linux-amd64 and this machine is "
                                        r"darwin-arm64: install helm v4\.1\.4 and .* on PATH"):
        toolinstall.install(tmp_path / "tools", {"PATH": ""}, source=impostor["tgz"],
                            machine="darwin-arm64")
    assert list((tmp_path / "tools").iterdir()) == []


def test_lookup_order_override_python_folder_user_tools_path(tmp_path: Path) -> None:
    python_dir, cache, on_path = tmp_path / "venv-bin", tmp_path / "cache", tmp_path / "path"
    environ = {"PATH": str(on_path), "HYDRATE_CACHE_DIR": str(cache)}
    for folder in (python_dir, cache / "tools", on_path):
        _executable(folder / "helm")

    def where(env: dict[str, str]) -> tuple[str, str]:
        found = locate("helm", env, python_dir)
        return found.origin, found.argv[0]

    mine = _executable(tmp_path / "my-helm")
    assert where({**environ, "HYDRATE_HELM": str(mine)}) == ("HYDRATE_HELM", str(mine))
    assert where(environ) == (PYTHON_FOLDER, str(python_dir / "helm"))
    (python_dir / "helm").unlink()
    assert where(environ) == (USER_TOOLS, str(cache / "tools" / "helm"))
    (cache / "tools" / "helm").unlink()
    assert where(environ) == (ON_PATH, str(on_path / "helm"))
    (on_path / "helm").unlink()
    with pytest.raises(ToolError, match=r"helm not found .*: run `hydrate tools install`"):
        where(environ)


def test_an_earlier_folder_wins_over_a_kustomize_in_a_later_one(tmp_path: Path) -> None:
    cache, on_path = tmp_path / "cache", tmp_path / "path"
    _executable(cache / "tools" / "kubectl")
    _executable(on_path / "kustomize")
    found = locate("kustomize", {"PATH": str(on_path), "HYDRATE_CACHE_DIR": str(cache)},
                   tmp_path / "venv-bin")
    assert (found.origin, found.argv) == (USER_TOOLS, (str(cache / "tools" / "kubectl"), "kustomize"))


def test_the_user_tools_directory_follows_the_user_cache_directory(tmp_path: Path) -> None:
    result = hydrate("tools", "show", env={"HYDRATE_CACHE_DIR": "", "XDG_CACHE_HOME": str(tmp_path)})
    assert result.code == 0, result.err
    assert f"user tools {tmp_path}/hydrate/tools, PATH" in result.out


def test_show_names_each_tool_its_origin_and_version() -> None:
    result = hydrate("tools")  # no subcommand: show
    assert result.code == 0, result.err
    helm, kustomize = result.out.splitlines()[:2]
    assert helm.split()[:4] == ["helm", "v4.1.4", "pinned", str(HERE / "helm")]
    assert helm.endswith(f"({PYTHON_FOLDER})")
    assert kustomize.split()[:5] == ["kustomize", "v5.6.0", "pinned", str(HERE / "kubectl"), "kustomize"]
    assert kustomize.endswith(f"({PYTHON_FOLDER})")
    assert result.err == ""


def test_show_warns_about_a_tool_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    old = _executable(tmp_path / "helm-3", "#!/bin/sh\necho v3.14.0\n")
    result = hydrate("tools", "show", env={"HYDRATE_HELM": str(old)})
    assert result.code == 0, result.err
    assert result.out.splitlines()[0].split() == ["helm", "v3.14.0", "not", "pinned", "(v4.1.4)",
                                                  str(old), "(HYDRATE_HELM)"]
    assert result.err == (f"hydrate: warning: helm v3.14.0 ({old}, from HYDRATE_HELM) is not the "
                          "pinned v4.1.4: renders work, but their output may differ from CI's; "
                          "point HYDRATE_HELM at helm v4.1.4, or unset it\n")


# The wheel, built as CI builds it: an sdist of the tree, then the wheel from the sdist.

@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build` of a copy of the tree as a checkout has it (tracked and new files,
    nothing ignored), so no build files land in the repository."""
    src = tmp_path_factory.mktemp("source")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                           str(src)], capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    return out


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


WHEEL = f"hydrate_gitops-{__version__}-py3-none-any.whl"
# `pip install NAME==VERSION` (or NAME alone) as the docs tell users to run it.
_INSTALL = re.compile(r"pip install (?!-)([A-Za-z0-9][A-Za-z0-9._-]*)(?:==([0-9][^ ]*))?")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_what_the_docs_tell_users_to_install_is_the_wheel_we_build(dist: Path) -> None:
    """`hydrate` on the public index is an unrelated project: the README's install line
    (and every other doc's) must name this wheel's distribution, at its version."""
    metadata = zipfile.ZipFile(dist / WHEEL).read(
        f"hydrate_gitops-{__version__}.dist-info/METADATA").decode()
    fields = dict(line.split(": ", 1) for line in metadata.split("\n\n")[0].splitlines() if ": " in line)
    assert (fields["Name"], fields["Version"]) == (DISTRIBUTION, __version__)
    readme = _INSTALL.findall((ROOT / "README.md").read_text())
    assert readme, "the README says how to install hydrate"
    found = {(doc.name, name, version) for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
             for name, version in _INSTALL.findall(doc.read_text())}
    assert found >= {("README.md", name, version) for name, version in readme}
    for doc, name, version in found:
        assert _normal(name) == _normal(fields["Name"]), f"{doc}: pip install {name}"
        assert version in ("", fields["Version"]), f"{doc}: pip install {name}=={version}"


def test_the_wheel_holds_the_package_data_and_the_example_fleet(dist: Path) -> None:
    names = set(zipfile.ZipFile(dist / WHEEL).namelist())
    wanted = {"pipeline/py.typed", "pipeline/example.py", "pipeline/example/fleet/environments.yaml"}
    wanted |= {f"pipeline/config/schemas/{n}" for n in _files(ROOT / "pipeline/config/schemas")}
    wanted |= {f"pipeline/report/templates/{n}" for n in _files(ROOT / "pipeline/report/templates")}
    scaffold = _files(ROOT / "pipeline/scaffold")  # hydrate init's, dot-files among them
    if scaffold:
        assert ".gitignore" in scaffold
        assert any(n.startswith(".github/workflows/") for n in scaffold)
    wanted |= {f"pipeline/scaffold/{n}" for n in scaffold}
    for part in ("fleet", "bases", "overlays"):  # the repository's one copy, as it is
        wanted |= {f"pipeline/example/{part}/{n}" for n in _files(ROOT / part)}
    assert wanted - names == set()
    assert {n.split("/")[0] for n in names} == {"pipeline", f"hydrate_gitops-{__version__}.dist-info"}
    with tarfile.open(dist / f"hydrate_gitops-{__version__}.tar.gz") as sdist:
        assert f"hydrate_gitops-{__version__}/fleet/environments.yaml" in sdist.getnames()


def test_the_installed_wheel_works_outside_the_repository(tmp_path: Path, dist: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    wheel = dist / WHEEL
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install",
                    "--quiet", "--no-deps", "--disable-pip-version-check", str(wheel)],
                   check=True, capture_output=True)
    # The dependencies from this environment's site-packages: a path in a .pth file is not
    # searched for .pth files itself, so the editable install of the tree stays out.
    site = subprocess.run([str(venv / "bin/python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("GIT_", "HYDRATE_")) and k != "PYTHONPATH"}
    base["HYDRATE_CACHE_DIR"] = str(tmp_path / "cache")

    def run(*args: str | Path, path: Path | str = tmp_path / "empty") -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(venv / "bin/hydrate"), *map(str, args)], cwd=tmp_path,
                              env={**base, "PATH": str(path)}, capture_output=True, text=True,
                              check=False, timeout=300)

    where = subprocess.run([str(venv / "bin/python"), "-c", "import pipeline; print(pipeline.__file__)"],
                           cwd=tmp_path, env=base, capture_output=True, text=True, check=True).stdout
    assert Path(where.strip()).is_relative_to(venv), where
    assert run("--version").stdout == f"hydrate, version {__version__}\n"

    missing = run("tools", "show")
    assert missing.returncode == 1
    assert missing.stdout.splitlines()[0].split() == ["helm", "not", "found"]
    assert "hydrate: error: helm not found" in missing.stderr
    installed = run("tools", "install", path=HERE)  # the pinned ones on PATH: linked
    assert installed.returncode == 0, installed.stderr
    tools_dir = tmp_path / "cache" / "tools"
    assert f"helm v4.1.4: linked {tools_dir / 'helm'} to {HERE / 'helm'}" in installed.stderr
    shown = run("tools", "show")
    assert shown.returncode == 0, shown.stderr
    helm, kustomize = shown.stdout.splitlines()[:2]
    assert helm.split()[:3] == ["helm", "v4.1.4", "pinned"]
    assert helm.endswith(f"{tools_dir / 'helm'} -> {(HERE / 'helm').resolve()}  ({USER_TOOLS})")
    assert kustomize.split()[:3] == ["kustomize", "v5.6.0", "pinned"]
    assert kustomize.endswith(f"({USER_TOOLS})")

    if "init" not in run("--help").stdout:
        pytest.skip("hydrate init is not in this tree yet")
    created = run("init", "--from-example", tmp_path / "config")
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "config/fleet/environments.yaml").read_bytes() == (
        ROOT / "fleet/environments.yaml").read_bytes()
    rendered = run("--repo", tmp_path / "config", "render", "--cluster", "store-0001",
                   "--out", tmp_path / "out")
    assert rendered.returncode == 0, rendered.stderr
    assert (tmp_path / "out/prod/store-0001/kustomization.yaml").is_file()
