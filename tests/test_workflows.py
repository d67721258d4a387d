"""Every GitHub Actions workflow is valid against the GitHub workflow schema, pins its
actions by commit, asks for least privilege, and only calls the project's own commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"render.yml"}


PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")  # owner/action@<full commit>


def assert_valid_workflow(path: Path) -> None:
    """`path` is a workflow GitHub accepts (its published schema)."""
    checker = Path(sys.executable).parent / "check-jsonschema"
    proc = subprocess.run([str(checker), "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_against_the_github_schema(path: Path) -> None:
    assert_valid_workflow(path)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_and_permissions_explicit(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert "permissions" in doc, "set least-privilege permissions at the top"
    assert "write-all" not in str(doc["permissions"])
    for job in doc["jobs"].values():
        for step in job.get("steps", []):
            if "uses" in step:
                assert PINNED.fullmatch(step["uses"]), step["uses"]
            if "run" in step:
                # Expressions in scripts invite injection: pass values through env instead.
                assert not re.findall(r"\$\{\{(?!\s*matrix\.)", step["run"]), step["run"]
                for command in re.findall(r"(?:^|\n|&& )\s*([\w./-]+)", step["run"]):
                    assert command.startswith((".venv/bin/", "scripts/", "echo", "cat", "if", "fi",
                                               "python", "gh", "test")), command


def test_the_sharded_workflow_has_an_environment_on_push_too() -> None:
    """A push has no inputs (and `render --env ""` fails): the environment falls back to the
    first one, the one render.yml publishes on a push."""
    doc = yaml.safe_load((ROOT / ".github/workflows/render-sharded.yml").read_text())
    fallback = re.fullmatch(r"\$\{\{\s*inputs\.environment\s*\|\|\s*'([a-z0-9-]+)'\s*\}\}",
                            doc["env"]["ENVIRONMENT"])
    assert fallback, doc["env"]["ENVIRONMENT"]
    envs = yaml.safe_load((ROOT / "fleet/environments.yaml").read_text())["environments"]
    assert fallback[1] == envs[0]["name"]


def test_each_action_is_pinned_to_one_commit_named_by_its_version() -> None:
    """A version comment beside every SHA, and one SHA per action across the workflows
    (so a new workflow reuses the reviewed pin instead of bringing its own)."""
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            if re.match(r"\s*(?:- )?uses:", line):
                pinned = re.search(r"uses: ([\w./-]+)@([0-9a-f]{40}) # v\d[\w.-]*$", line)
                assert pinned, f"{path.name}: {line.strip()}"
                pins.setdefault(pinned[1], set()).add(pinned[2])
    assert {action: shas for action, shas in pins.items() if len(shas) > 1} == {}


def test_only_a_release_tag_can_write_to_the_repository_in_the_wheel_workflow() -> None:
    doc = yaml.safe_load((ROOT / ".github/workflows/wheel.yml").read_text())
    assert doc["permissions"] == {"contents": "read"}
    writers = {name: job for name, job in doc["jobs"].items()
               if "write" in str(job.get("permissions", {}))}
    assert list(writers) == ["release"]
    assert writers["release"]["if"] == "startsWith(github.ref, 'refs/tags/v')"
    steps = "\n".join(step.get("run", "") for step in doc["jobs"]["build"]["steps"])
    assert "scripts/smoke-wheel dist/" in steps  # nothing is kept that was not smoke-tested


def test_the_mutation_workflow_runs_all_modules_on_schedule_and_the_changed_ones_on_prs() -> None:
    """scripts/mutate on every safety-critical module weekly and by hand, on a pull request
    only on those it changes (from its base commit), and the report uploaded either way."""
    doc = yaml.safe_load((ROOT / ".github/workflows/mutate.yml").read_text())
    triggers = doc[True]  # YAML 1.1 reads the key `on` as true
    assert {"schedule", "workflow_dispatch", "pull_request"} <= set(triggers)
    assert triggers["schedule"][0]["cron"]
    assert doc["permissions"] == {"contents": "read"}
    (job,) = doc["jobs"].values()
    steps = job["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the base commit is there to diff against
    runs = {s["if"]: s for s in steps if "scripts/mutate" in s.get("run", "")}
    on_pr = runs["github.event_name == 'pull_request'"]
    assert on_pr["run"] == 'scripts/mutate --changed-since "$BASE_SHA"'
    assert on_pr["env"]["BASE_SHA"] == "${{ github.event.pull_request.base.sha }}"
    otherwise = runs["github.event_name != 'pull_request'"]
    assert otherwise["run"] == "scripts/mutate $MODULES"
    assert otherwise["env"]["MODULES"] == "${{ inputs.modules }}"
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    assert {".mutate/report.md", ".mutate/report.json"} <= set(upload["with"]["path"].split())
    assert upload["with"]["include-hidden-files"] is True
