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
        week = [T0]

        def hydrate(*argv: str, at: dt.timedelta) -> float:
            env["HYDRATE_NOW"] = (week[0] + at).isoformat().replace("+00:00", "Z")
            start = time.monotonic()
            proc = subprocess.run([str(ROOT / ".venv/bin/hydrate"), "--repo", repo.workdir,
                                   *argv, "--remote", remote], env=env, capture_output=True,
                                  text=True, check=False)
            if proc.returncode != 0:
                sys.exit(f"bench-promote: hydrate {' '.join(argv)} exited {proc.returncode}:"
                         f"\n{proc.stdout}{proc.stderr}")
            return time.monotonic() - start

        def verify(env_name: str, at: dt.timedelta, wave: str = "") -> None:
            hydrate("verify", "--env", env_name, "--check", "smoke", "--state", "success",
                    *(["--wave", wave] if wave else []), "--push", at=at)

        def rollout(label: str) -> None:
            # Times from Monday 07:00 UTC: every soak passed, inside the Berlin window.
            h = dt.timedelta(hours=1)
            took = hydrate("publish", "--push", at=0 * h)
            print(f"{label + ': publish (dev)':<48} {took:6.2f} s")
            verify("dev", 0.5 * h)
            took = hydrate("promote", "--to", "staging", "--push", at=1 * h)
            print(f"{label + ': promote --to staging':<48} {took:6.2f} s")
            verify("staging", 24.5 * h)
            for wave, at in (("canary", 25 * h), ("early", 27.5 * h), ("rest", 31.75 * h)):
                took = hydrate("promote", "--to", "prod", "--push", at=at)
                print(f"{label + f': promote --to prod ({wave})':<48} {took:6.2f} s")
                verify("prod", at + 0.25 * h, wave)

        rollout("first source (cold cache)")
        week[0] += dt.timedelta(days=7)
        site = sorted((base / "config/overlays/sites").iterdir())[0]
        values = site / "edge-gateway/values.yaml"
        values.write_text(values.read_text() + "bridge:\n  logLevel: debug\n")
        commit_all(repo, f"Debug the bridge at {site.name}")
        rollout("one site overlay changed")


if __name__ == "__main__":
    main()
