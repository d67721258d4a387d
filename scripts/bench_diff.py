"""Diff benchmark (see scripts/bench-diff)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pygit2
from benchlib import commit_all

ROOT = Path(__file__).resolve().parents[1]
HYDRATE = str(ROOT / ".venv/bin/hydrate")




def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark hydrate diff.")
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYDRATE_")}
    with tempfile.TemporaryDirectory(prefix="hydrate-bench-diff-") as tmp:
        config = Path(tmp) / "config"
        subprocess.run([sys.executable, str(ROOT / "scripts/gen-fleet"), str(args.clusters),
                        str(config)], check=True, stdout=subprocess.DEVNULL)
        repo = pygit2.init_repository(str(config), initial_head="main")
        commit_all(repo, "Fleet")
        site = sorted((config / "overlays/sites").iterdir())[0]
        values = site / "edge-gateway/values.yaml"
        values.write_text(values.read_text() + "bridge:\n  logLevel: debug\n")
        commit_all(repo, f"Debug the bridge at {site.name}")
        # Baseline: both revisions rendered in full, nothing shared, nothing cached.
        full = 0.0
        for rev in ("HEAD~1", "HEAD"):
            tree = repo.revparse_single(rev).peel(pygit2.Tree)
            repo.checkout_tree(tree, strategy=pygit2.enums.CheckoutStrategy.FORCE)
            full += timed([HYDRATE, "--no-cache", "--repo", str(config), "render", "--out",
                           f"{tmp}/out-{rev.replace('~', '-')}"], env)
        repo.checkout_tree(repo.head.peel(pygit2.Tree), strategy=pygit2.enums.CheckoutStrategy.FORCE)
        diff = [HYDRATE, "--cache-dir", f"{tmp}/cache", "--repo", str(config), "diff", "--base",
                "HEAD~1", "--format", "json", "--output", f"{tmp}/diff.json"]
        cold = timed(diff, env)
        warm = timed(diff, env)
        result = json.loads(Path(f"{tmp}/diff.json").read_text())
    figures = {"clusters": args.clusters, "both_revisions_in_full_s": round(full, 2),
               "diff_cold_cache_s": round(cold, 2), "diff_warm_cache_s": round(warm, 2),
               "clusters_changed": result["summary"]["clustersChanged"],
               "tool_runs_warm": result["stats"]["toolRuns"]}
    print(f"{'clusters':>8} {'full x2':>9} {'diff cold':>10} {'diff warm':>10} {'changed':>8}")
    print(f"{args.clusters:>8} {full:>8.1f}s {cold:>9.1f}s {warm:>9.1f}s "
          f"{figures['clusters_changed']:>8}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
