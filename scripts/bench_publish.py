"""Publish benchmark (see scripts/bench-publish)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pygit2
from benchlib import commit_all

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.commands import publish  # noqa: E402
from pipeline.commands.context import Context  # noqa: E402


def one_run(repo: pygit2.Repository, remote: str, jobs: int) -> dict[str, object]:
    # A cache of the scenario's own, so "cold" is cold whatever ran on this machine before.
    ctx = Context(Path(repo.workdir), dict(os.environ),
                      cache_dir=Path(repo.workdir).parent / f"cache-{Path(repo.workdir).name}")
    report = publish.publish(ctx, publish.PublishOptions(all_envs=True, remote=remote, push=True,
                                                         jobs=jobs))
    return {
        "seconds": round(report.seconds, 2),
        "render_s": round(report.timings["render"], 2),
        "git_s": round(report.timings["git"], 2),
        "load_s": round(report.timings["load"], 2),
        "tool_runs": sum(report.stats.tool_runs.values()),
        "blobs_written": sum(r.blobs_written for r in report.results),
        "clusters_reused": sum(r.clusters_reused for r in report.results),
        "commits": sum(1 for r in report.results if r.commit),
    }


def scenario(name: str, config: Path, change: tuple[str, str, str], jobs: int) -> dict[str, object]:
    repo = pygit2.init_repository(str(config), initial_head="main")
    commit_all(repo, "Fleet")
    remote = str(config.parent / f"{name}-remote.git")
    pygit2.init_repository(remote, bare=True)
    cold = one_run(repo, remote, jobs)
    rel, old, new = change
    path = config / rel
    path.write_text(path.read_text().replace(old, new, 1))
    commit_all(repo, "One cluster changes")
    incremental = one_run(repo, remote, jobs)
    clusters = len(list((config / "fleet/clusters").glob("*.yaml")))
    return {"fleet": name, "clusters": clusters, "cold": cold, "one_cluster_changed": incremental}


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark hydrate publish.")
    parser.add_argument("--clusters", type=int, default=1000, help="size of the generated fleet")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="hydrate-bench-") as tmp:
        example = Path(tmp) / "example"
        for d in ("fleet", "bases", "overlays"):
            shutil.copytree(ROOT / d, example / d)
        results.append(scenario("example", example, (
            "fleet/clusters/store-0001.yaml", 'storeId: "0001"', 'storeId: "9001"'), args.jobs))
        generated = Path(tmp) / "generated"
        subprocess.run([sys.executable, str(ROOT / "scripts/gen-fleet"), str(args.clusters),
                        str(generated)], check=True, stdout=subprocess.DEVNULL)
        results.append(scenario(f"generated-{args.clusters}", generated, (
            "fleet/clusters/store-00001.yaml", 'storeId: "00001"', 'storeId: "90001"'), args.jobs))
    print(f"{'fleet':<16} {'run':<20} {'total':>7} {'render':>7} {'git':>6} {'runs':>5} "
          f"{'blobs':>6} {'reused':>6}")
    for r in results:
        for label in ("cold", "one_cluster_changed"):
            m = r[label]
            assert isinstance(m, dict)
            print(f"{r['fleet']:<16} {label:<20} {m['seconds']:>6}s {m['render_s']:>6}s "
                  f"{m['git_s']:>5}s {m['tool_runs']:>5} {m['blobs_written']:>6} "
                  f"{m['clusters_reused']:>6}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
