"""Publish-to-OCI benchmark (see scripts/bench-publish-oci).

One generated fleet, every environment published (`--all`, promotion bypassed so all
clusters go out at once), three runs each way: cold, again with no change, and after one
store's `storeId` changed. "branch": the environment branches alone; "oci": every
environment with `oci: {repository: 127.0.0.1:<port>/fleet}`, a fresh local registry.
Both share one warm render cache (the branch runs fill it), so the OCI figures show what
packing, pushing and tagging add, not rendering.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pygit2
from benchlib import commit_all

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.commands import publish  # noqa: E402
from pipeline.commands.context import Context  # noqa: E402
from tests.ociregistry import Registry  # noqa: E402


def one_run(repo: pygit2.Repository, cache: Path, jobs: int) -> dict[str, object]:
    ctx = Context(Path(repo.workdir), dict(os.environ), cache_dir=cache)
    start = time.monotonic()
    report = publish.publish(ctx, publish.PublishOptions(
        all_envs=True, jobs=jobs, force=True, reason="benchmark: every environment at once"))
    total = time.monotonic() - start
    oci = [r.oci for r in report.results if r.oci is not None]
    return {
        "seconds": round(total, 2),
        "render_s": round(report.timings["render"], 2),
        "git_and_registry_s": round(report.timings["git"], 2),
        "tool_runs": sum(report.stats.tool_runs.values()),
        "commits": sum(1 for r in report.results if r.commit),
        "artifacts_pushed": sum(len(o.pushed.artifacts) for o in oci),
        "blobs_uploaded": sum(o.pushed.uploaded for o in oci),
        "blobs_mounted": sum(o.pushed.mounted for o in oci),
        "mib_uploaded": round(sum(o.pushed.bytes_uploaded for o in oci) / 2**20, 2),
        "tags_moved": sum(o.synced.changed for o in oci),
    }


def scenario(config: Path, cache: Path, jobs: int, change: tuple[str, str, str]) -> dict[str, object]:
    repo = pygit2.init_repository(str(config), initial_head="main")
    commit_all(repo, "Fleet")
    runs = {"cold": one_run(repo, cache, jobs), "no_change": one_run(repo, cache, jobs)}
    rel, old, new = change
    path = config / rel
    path.write_text(path.read_text().replace(old, new, 1))
    commit_all(repo, "One store changes")
    runs["one_site_changed"] = one_run(repo, cache, jobs)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark hydrate publish to OCI.")
    parser.add_argument("--clusters", type=int, default=1000, help="size of the generated fleet")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    change = ("fleet/clusters/store-00001.yaml", 'storeId: "00001"', 'storeId: "90001"')
    with tempfile.TemporaryDirectory(prefix="hydrate-bench-oci-") as tmp:
        base = Path(tmp)
        generated = base / "generated"
        subprocess.run([sys.executable, str(ROOT / "scripts/gen-fleet"), str(args.clusters),
                        str(generated)], check=True, stdout=subprocess.DEVNULL)
        cache = base / "cache"
        branch_config = base / "branch"
        shutil.copytree(generated, branch_config)
        results = {"clusters": args.clusters,
                   "branch": scenario(branch_config, cache, args.jobs, change)}
        with Registry(base / "registry") as registry:
            oci_config = base / "oci"
            shutil.copytree(generated, oci_config)
            envs = oci_config / "fleet/environments.yaml"
            text = envs.read_text()
            for name in ("dev", "staging", "prod"):
                text = text.replace(f"- name: {name}\n",
                                    f"- name: {name}\n  oci: {{repository: {registry.host}/fleet}}\n")
            envs.write_text(text)
            results["oci"] = scenario(oci_config, cache, args.jobs, change)
            results["registry_blobs_stored"] = registry.blobs_on_disk()
    print(f"{'output':<7} {'run':<17} {'total':>7} {'render':>7} {'git+reg':>8} {'artifacts':>9} "
          f"{'uploaded':>8} {'mounted':>8} {'MiB':>6} {'tags':>5}")
    for output in ("branch", "oci"):
        runs = results[output]
        assert isinstance(runs, dict)
        for label, m in runs.items():
            print(f"{output:<7} {label:<17} {m['seconds']:>6}s {m['render_s']:>6}s "
                  f"{m['git_and_registry_s']:>7}s {m['artifacts_pushed']:>9} "
                  f"{m['blobs_uploaded']:>8} {m['blobs_mounted']:>8} {m['mib_uploaded']:>6} "
                  f"{m['tags_moved']:>5}")
    print(f"registry stores {results['registry_blobs_stored']} blobs (manifests included)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
