"""Findings merged across clusters, and what a change adds or fixes."""

from __future__ import annotations

from dataclasses import replace

from pipeline.validate.findings import Finding, ObjectRef, Source, changes, from_json, merge

DEPLOY = ObjectRef("apps/v1", "Deployment", "pos", "pos-app")


def _f(rule: str = "privileged", clusters: tuple[str, ...] = ("a",), line: int = 3,
       severity: str = "warning") -> Finding:
    return Finding(rule, severity, "container 'app' is privileged", "pos-app", DEPLOY,  # type: ignore[arg-type]
                   Source("bases/pos-app/chart/templates/deployment.yaml", line), clusters,
                   "spec.template.spec.containers[0].securityContext.privileged")


def test_identical_findings_merge_with_their_clusters_errors_first() -> None:
    merged = merge([_f(clusters=("b",)), _f(clusters=("a",)), _f("schema", ("c",), severity="error"),
                    _f(clusters=("b",))])
    assert [(f.rule, f.clusters) for f in merged] == [("schema", ("c",)), ("privileged", ("a", "b"))]


def test_the_fingerprint_ignores_lines_and_clusters() -> None:
    assert _f(line=3).fingerprint == _f(line=30, clusters=("z",)).fingerprint
    assert _f().fingerprint != _f("host-path").fingerprint


def test_changes_are_per_cluster_and_survive_a_moved_line() -> None:
    base = [_f(clusters=("a", "b")), _f("host-path", ("a",))]
    head = [_f(clusters=("a", "c"), line=9)]
    added, removed = changes(base, head)
    assert [(f.rule, f.clusters, f.source.line if f.source else 0) for f in added] == \
        [("privileged", ("c",), 9)]
    assert sorted((f.rule, f.clusters) for f in removed) == [("host-path", ("a",)), ("privileged", ("b",))]
    assert changes(base, base) == ((), ())


def test_json_round_trip() -> None:
    for f in (_f(), replace(_f(), object=None, source=None, package=None, field="")):
        assert from_json(f.as_json()) == f
