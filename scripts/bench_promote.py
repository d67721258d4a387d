"""Promotion benchmark (see scripts/bench-promote)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pygit2
from benchlib import commit_all

ROOT = Path(__file__).resolve().parents[1]
T0 = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)  # a Monday, 08:00 in Berlin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hydrate-bench-promote-") as tmp:
        base = Path(tmp)
        subprocess.run([sys.executable, str(ROOT / "scripts/gen-fleet"), str(args.clusters),
                        str(base / "config")], check=True, stdout=subprocess.DEVNULL)
        repo = pygit2.init_repository(str(base / "config"), initial_head="main")
        commit_all(repo, "Generated fleet")
        remote = str(base / "remote.git")
        pygit2.init_repository(remote, bare=True)
        env = {**os.environ, "HYDRATE_CACHE_DIR": str(base / "cache")}
        clock = [T0]

        def hydrate(*argv: str, step: dt.timedelta = dt.timedelta(minutes=1)) -> float:
            clock[0] += step
            env["HYDRATE_NOW"] = clock[0].isoformat().replace("+00:00", "Z")
            start = time.monotonic()
            proc = subprocess.run([str(ROOT / ".venv/bin/hydrate"), "--repo", repo.workdir,
                                   *argv, "--remote", remote], env=env, capture_output=True,
                                  text=True, check=False)
            if proc.returncode not in (0, 4):
                sys.exit(f"bench-promote: hydrate {' '.join(argv)} failed:\n{proc.stderr}")
            return time.monotonic() - start

        def verify(env_name: str, wave: str = "") -> None:
            hydrate("verify", "--env", env_name, "--check", "smoke", "--state", "success",
                    *(["--wave", wave] if wave else []), "--push")

        def rollout(label: str) -> None:
            verify("dev")
            took = hydrate("promote", "--to", "staging", "--push", step=dt.timedelta(hours=1))
            print(f"{label}: promote --to staging            {took:6.2f} s")
            verify("staging")
            for wave, soak in (("canary", 24), ("early", 3), ("rest", 5)):
                took = hydrate("promote", "--to", "prod", "--push", step=dt.timedelta(hours=soak))
                print(f"{label}: promote --to prod ({wave:<6})      {took:6.2f} s")
                verify("prod", wave)

        took = hydrate("publish", "--push")
        print(f"first source: publish (dev, cold cache)     {took:6.2f} s")
        rollout("first source")
        clock[0] += dt.timedelta(days=6)  # the next Monday
        site = sorted((base / "config/overlays/sites").iterdir())[0]
        values = site / "edge-gateway/values.yaml"
        values.write_text(values.read_text() + "bridge:\n  logLevel: debug\n")
        commit_all(repo, f"Debug the bridge at {site.name}")
        took = hydrate("publish", "--push")
        print(f"one site changed: publish (dev)             {took:6.2f} s")
        rollout("one site changed")


if __name__ == "__main__":
    main()
