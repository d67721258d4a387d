"""The scale benchmark (see scripts/bench)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pygit2
from benchlib import commit_all

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import inventory  # noqa: E402
from pipeline.config.source import DirTree  # noqa: E402
from pipeline.render import tools  # noqa: E402
from pipeline.render.materialise import HELM_OUTPUT, Materialiser, blob  # noqa: E402

HYDRATE = str(ROOT / ".venv/bin/hydrate")
NAIVE_FULL_UP_TO = 1000  # larger fleets: the naive baseline runs on a sample and is scaled




def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and stdout of one hydrate invocation."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # reaps it and says how much memory it used
        seconds = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(f"bench: {' '.join(argv)} failed:\n{err.read().decode()}")
        return seconds, usage.ru_maxrss / 1024, out.read().decode()


def _tool_runs(out: str) -> int:
    match = re.search(r"→ (\d+) tool runs?", out) or re.search(r"with (\d+) tool runs?", out)
    return int(match.group(1)) if match else -1


def _kustomize_processes(out: str) -> tuple[int, int]:
    """(kustomize inputs built, kustomize processes) from render's summary."""
    match = re.search(r"kustomize (\d+)(?: in (\d+) process(?:es)?)?[,)]", out)
    return (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (0, 0)


def _validation_s(out: str) -> float:
    """The seconds validation took inside a render (its `checks` line)."""
    match = re.search(r"checks .* distinct objects? in ([\d.]+)s", out)
    return float(match.group(1)) if match else float("nan")


def naive(config: Path, jobs: int, sample: int | None, seed: int = 7) -> dict[str, Any]:
    """One tool run per (cluster, package), nothing shared, nothing cached: per-run times."""
    tree = DirTree(config)
    inv = inventory.load(tree)
    with tempfile.TemporaryDirectory(prefix="hydrate-naive-") as tmp:
        work = Path(tmp)
        toolset = tools.discover(os.environ, work)
        mat = Materialiser(tree, inv, toolset)
        pairs = [(c, p) for c in inv.clusters.values() for p in inv.packages_of(c)]
        chosen = pairs if sample is None else random.Random(seed).sample(pairs, sample)
        env = tools.hermetic_env(work / "home", os.environ)

        def one(pair: tuple[Any, str]) -> list[float]:
            inp = mat.input(*pair)
            durations = []
            ws = Path(tempfile.mkdtemp(dir=work))
            contents = {p: f.data if f.data is not None else tree.read(f.source or p)
                        for p, f in inp.run.files.items()}
            for rel, data in contents.items():
                (ws / rel).parent.mkdir(parents=True, exist_ok=True)
                (ws / rel).write_bytes(data)
            tool = toolset.helm if inp.run.tool == "helm" else toolset.kustomize
            start = time.monotonic()
            out = tools.run([*tool.argv, *inp.run.args], cwd=ws, env=env)
            durations.append(time.monotonic() - start)
            if inp.run.tool == "helm":
                helm_durations.append(durations[-1])
            if inp.overlay is not None:
                ws2 = Path(tempfile.mkdtemp(dir=work))
                for rel, f in {**inp.overlay.files, HELM_OUTPUT: blob(out)}.items():
                    (ws2 / rel).parent.mkdir(parents=True, exist_ok=True)
                    (ws2 / rel).write_bytes(f.data if f.data is not None else tree.read(f.source or rel))
                start = time.monotonic()
                tools.run([*toolset.kustomize.argv, "."], cwd=ws2, env=env)
                durations.append(time.monotonic() - start)
            shutil.rmtree(ws, ignore_errors=True)
            return durations

        helm_durations: list[float] = []
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            durations = [d for ds in pool.map(one, chosen) for d in ds]
        seconds = time.monotonic() - start
    scale = len(pairs) / len(chosen)
    return {"pairs": len(pairs), "measured_pairs": len(chosen), "seconds": seconds * scale,
            "measured_seconds": seconds, "median_run_s": statistics.median(durations),
            "median_helm_s": statistics.median(helm_durations) if helm_durations else float("nan"),
            "extrapolated": sample is not None}


def one_size(n: int, jobs: int, tmp: Path, naive_sample: int | None = None) -> dict[str, Any]:
    config = tmp / f"fleet-{n}"
    subprocess.run([sys.executable, str(ROOT / "scripts/gen-fleet"), str(n), str(config)],
                   check=True, stdout=subprocess.DEVNULL)
    repo = pygit2.init_repository(str(config), initial_head="main")
    commit_all(repo, "Fleet")
    cache, out = tmp / f"cache-{n}", tmp / f"out-{n}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYDRATE_")}
    base = [HYDRATE, "--cache-dir", str(cache), "--repo", str(config)]
    render = [*base, "render", "--out", str(out), "--jobs", str(jobs)]
    fig: dict[str, Any] = {"clusters": n}
    cold_s, cold_rss, cold_out = run(render, env)
    distinct = int(re.search(r"inputs\s+(\d+) distinct", cold_out).group(1))  # type: ignore[union-attr]
    pairs = int(re.search(r"\((\d+) cluster", cold_out).group(1))  # type: ignore[union-attr]
    fig.update(pairs=pairs, distinct=distinct, tool_runs_cold=_tool_runs(cold_out),
               render_cold_s=cold_s, peak_rss_mib=cold_rss)
    fig["kustomize_inputs"], fig["kustomize_processes"] = _kustomize_processes(cold_out)
    fig["validate_cold_s"] = _validation_s(cold_out)
    fig["validate_share"] = fig["validate_cold_s"] / (cold_s - fig["validate_cold_s"])
    fig["render_warm_s"], rss, warm_out = run(render, env)
    fig["validate_warm_s"] = _validation_s(warm_out)
    site = sorted((config / "overlays/sites").iterdir())[0] / "edge-gateway/values.yaml"
    site.write_text(site.read_text() + "bridge:\n  logLevel: debug\n")
    fig["render_site_change_s"], rss2, out2 = run(render, env)
    fig["tool_runs_site_change"] = _tool_runs(out2)
    pop = config / "fleet/classes/pop.yaml"
    pop.write_text(pop.read_text().replace("posReplicas: 2", "posReplicas: 3"))
    fig["render_class_change_s"], rss3, out3 = run(render, env)
    fig["tool_runs_class_change"] = _tool_runs(out3)
    commit_all(repo, "Site and class changes")
    remote = tmp / f"remote-{n}.git"
    pygit2.init_repository(str(remote), bare=True)
    publish = [HYDRATE, "--cache-dir", str(tmp / f"cache-publish-{n}"), "--repo", str(config),
               "publish", "--all", "--remote", str(remote), "--push", "--jobs", str(jobs)]
    fig["publish_cold_s"], rss4, _ = run(publish, env)
    store = config / "fleet/clusters/store-00001.yaml"
    store.write_text(store.read_text().replace('storeId: "00001"', 'storeId: "99001"'))
    commit_all(repo, "One store changes")
    fig["publish_incremental_s"], rss5, pub_out = run(publish, env)
    fig["publish_incremental_note"] = next((ln.strip() for ln in pub_out.splitlines()
                                            if "incremental" in ln and "prod" not in ln), "")
    fig["peak_rss_mib"] = max(cold_rss, rss, rss2, rss3, rss4, rss5)
    sample = None if n <= NAIVE_FULL_UP_TO else max(500, pairs // 20)
    if naive_sample is not None:
        sample = min(naive_sample, pairs)
    fig["naive"] = naive(config, jobs, sample)
    fig["floor_s"] = distinct * fig["naive"]["median_run_s"] / jobs
    # The helm runs alone (the part batching cannot shrink): helm inputs times a median run, over jobs.
    helm_runs = re.search(r"\(helm (\d+)", cold_out)
    fig["helm_floor_s"] = (int(helm_runs.group(1)) if helm_runs else 0) * fig["naive"]["median_helm_s"] / jobs
    fig["cold_over_floor"] = cold_s / fig["floor_s"]
    fig["naive_over_cold"] = fig["naive"]["seconds"] / cold_s
    shutil.rmtree(out, ignore_errors=True)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description="hydrate scale benchmark")
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--naive-sample", type=int, metavar="PAIRS",
                        help="measure the naive baseline on this many random (cluster, package) "
                             "pairs and scale (default: all up to 1,000 clusters, 5 %% above)")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="hydrate-bench-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            print(f"bench: {n} clusters …", file=sys.stderr, flush=True)
            results.append(one_size(n, args.jobs, Path(tmp), args.naive_sample))
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
               "system": platform.platform(), "jobs": args.jobs}
    cols = [("clusters", "{:>8}"), ("pairs", "{:>7}"), ("distinct", "{:>8}"),
            ("render_cold_s", "{:>8.1f}"), ("validate_cold_s", "{:>6.2f}"),
            ("validate_share", "{:>6.1%}"), ("validate_warm_s", "{:>6.2f}"),
            ("floor_s", "{:>7.1f}"), ("helm_floor_s", "{:>7.1f}"), ("cold_over_floor", "{:>6.2f}"),
            ("kustomize_batched", "{:>9}"), ("naive_s", "{:>8.1f}"), ("naive_over_cold", "{:>6.1f}"),
            ("render_warm_s", "{:>6.2f}"),
            ("render_site_change_s", "{:>6.2f}"), ("render_class_change_s", "{:>7.1f}"),
            ("publish_cold_s", "{:>7.1f}"), ("publish_incremental_s", "{:>6.2f}"),
            ("peak_rss_mib", "{:>6.0f}")]
    heads = ["clusters", "pairs", "distinct", "cold", "valid", "+val", "val-w", "floor", "helm-fl", "/floor",
             "kust/proc", "naive", "x",
             "warm", "site", "class", "pub", "pub+1", "MiB"]
    print(" ".join(f"{h:>{len(f.format(0))}}" for h, (_, f) in zip(heads, cols, strict=True)))
    for r in results:
        r["naive_s"] = r["naive"]["seconds"]
        r["kustomize_batched"] = f"{r['kustomize_inputs']}/{r['kustomize_processes']}"
        print(" ".join(f.format(r[k]) for k, f in cols))
    print(f"machine: {machine}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
