"""`hydrate report --html`: the fleet as a static site that works from `file://` and makes
no external request. The page model is built by the command; this module holds it and
writes it with the Jinja2 templates in `templates/` (autoescaped), plus one small CSS
and one small JS file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from pipeline.report.access import GrantView, SubjectView
from pipeline.report.access import pages as access_pages
from pipeline.report.catalog import Catalog
from pipeline.sinks import places
from pipeline.validate.findings import Finding, Usage, Waived
from pipeline.words import counted


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    evidence: str


@dataclass(frozen=True)
class EnvView:
    name: str
    branch: str
    agent: str
    source: str | None  # short sha of the source live on the branch
    subject: str
    age: str
    clusters: int
    published: bool
    origin: str | None = None  # the environment it promotes from
    rollout: str = ""  # waves under way, in words
    waits: str = ""  # what the next promotion or wave waits for
    gates: tuple[Gate, ...] = ()  # of promoting the next source here
    blocked: bool = False
    next_source: str | None = None
    holds: Mapping[str, str] = field(default_factory=dict)
    problem: str = ""  # why the promotion cannot be judged (e.g. nothing to promote)


@dataclass(frozen=True)
class ClusterView:
    name: str
    environment: str
    cls: str
    site: str
    labels: Mapping[str, str]
    packages: tuple[tuple[str, int, int], ...]  # (package, wave, objects)
    source: str | None
    digest: str | None
    objects: int
    findings: tuple[Finding, ...]
    usage: Usage | None
    access: tuple[GrantView, ...] = ()  # who has access and through what (its own bindings)


@dataclass(frozen=True)
class Site:
    title: str
    generated: str
    envs: tuple[EnvView, ...]
    classes: tuple[str, ...]
    matrix: Mapping[str, Mapping[str, int]]  # environment → class → clusters
    clusters: tuple[ClusterView, ...]
    catalog: Catalog
    graph_svg: str
    usage: tuple[Usage, ...]
    findings: tuple[Finding, ...]
    waived: tuple[Waived, ...] = ()  # errors the API server rejects, accepted by waivers
    subjects: tuple[SubjectView, ...] = ()  # access per subject, one page each

    @property
    def subject_pages(self) -> dict[str, str]:
        return {s.subject: s.page for s in self.subjects}

    def by_rule(self) -> list[tuple[str, list[Finding]]]:
        grouped: dict[str, list[Finding]] = {}
        for f in self.findings:
            grouped.setdefault(f.rule, []).append(f)
        return sorted(grouped.items())

    def capacity(self) -> list[dict[str, Any]]:
        """Per class: the fullest cluster's share of each resource, and the busiest ones."""
        rows = []
        for cls in self.classes:
            members = sorted((u for u in self.usage if u.class_name == cls), key=lambda u: -u.worst)
            if not members:
                continue
            top = members[0]
            rows.append({"cls": cls, "clusters": len(members), "busiest": members[:3],
                         "bars": [(r, top.percent(r)) for r in ("cpu", "memory", "pods")
                                  if top.percent(r) is not None], "top": top})
        return rows


def _env() -> jinja2.Environment:
    loader = jinja2.FunctionLoader(
        lambda name: resources.files("pipeline.report").joinpath("templates", name).read_text())
    env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v: "–" if v is None else f"{v:.0f} %"
    env.filters["counted"] = counted
    env.filters["level"] = lambda v: "" if v is None else ("over" if v > 100 else "high" if v > 80 else "ok")
    return env


def page_name(cluster: str) -> str:
    return f"clusters/{cluster}.html"


STAMP = ".hydrate-site"  # marks a directory `hydrate report` wrote, and may replace


def write(site: Site, out: Path, protect: Sequence[Path] = ()) -> list[str]:
    """Write the site to `out` whole or not at all (built aside, then swapped in). `out`
    must be new, empty or a site hydrate wrote (pipeline.sinks.places), and not one of
    `protect` (the repository) nor a folder holding one."""
    env = _env()
    files: dict[str, str] = {
        "index.html": env.get_template("index.html.j2").render(site=site, root=""),
        "style.css": env.get_template("style.css").render(),
        "app.js": env.get_template("app.js").render(),
    }
    for cluster in site.clusters:
        files[page_name(cluster.name)] = env.get_template("cluster.html.j2").render(
            site=site, c=cluster, root="../")
    files.update(access_pages(env, site, site.subjects))
    places.replace_dir(out, {rel: text.encode() for rel, text in files.items()},
                       what="--html", stamp=STAMP, protect=protect)
    return sorted(files)


def counts(clusters: Sequence[ClusterView]) -> dict[str, int]:
    return {"clusters": len(clusters), "objects": sum(c.objects for c in clusters)}
