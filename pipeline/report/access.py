"""The fleet page's access views: per cluster, who has access and through what; per
subject, where it holds what (one page each). Built from the same analysis as
`hydrate access` (the fleet's own bindings; the built-in ones are the same everywhere)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import jinja2

from pipeline.access.fleet import Analyzer
from pipeline.access.views import clusters_phrase, via_text
from pipeline.config.model import Inventory
from pipeline.render.engine import ClusterRender

_SLUG = re.compile(r"[^a-z0-9.-]+")


@dataclass(frozen=True)
class GrantView:
    """A subject's grant: where, which role, through which binding (file and line)."""

    subject: str
    where: str  # "cluster-wide" or "in NS"
    role: str
    via: str


@dataclass(frozen=True)
class SubjectView:
    subject: str
    page: str
    grants: tuple[tuple[GrantView, str, tuple[str, ...]], ...]  # grant, clusters in words, names
    clusters: int


def subject_page(subject: str) -> str:
    """A stable, collision-free file name for a subject's page."""
    slug = _SLUG.sub("-", subject.lower()).strip("-")[:60]
    return f"subjects/{slug}-{hashlib.sha256(subject.encode()).hexdigest()[:8]}.html"


def build(inv: Inventory, renders: Sequence[ClusterRender],
          analyzer: Analyzer) -> tuple[dict[str, tuple[GrantView, ...]], tuple[SubjectView, ...]]:
    """Per cluster its grants, and per subject its pages' content."""
    per_key: dict[str, tuple[GrantView, ...]] = {}
    per_cluster: dict[str, tuple[GrantView, ...]] = {}
    where: dict[GrantView, list[str]] = {}
    for render in renders:
        access = analyzer.analyse(render)
        views = per_key.get(access.key)
        if views is None:
            views = per_key[access.key] = tuple(dict.fromkeys(
                GrantView(str(g.subject), f"in {g.namespace}" if g.namespace else "cluster-wide",
                          ("(missing) " if g.role is None else "")
                          + f"{g.binding.role_kind} {g.binding.role_name}",
                          via_text(g.binding, "", False).split(" → ")[0])
                for g in access.rbac.grants(builtin=False)))
        per_cluster[render.cluster.name] = views
        for view in views:
            where.setdefault(view, []).append(render.cluster.name)
    subjects: dict[str, list[tuple[GrantView, str, tuple[str, ...]]]] = {}
    for view, names in where.items():
        subjects.setdefault(view.subject, []).append((view, clusters_phrase(names, len(renders), inv),
                                                      tuple(names)))
    pages = tuple(SubjectView(s, subject_page(s), tuple(grants),
                              len({n for _, _, names in grants for n in names}))
                  for s, grants in sorted(subjects.items()))
    return per_cluster, pages


def pages(env: jinja2.Environment, site: object, subjects: Sequence[SubjectView]) -> dict[str, str]:
    """The per-subject pages (rel path → HTML)."""
    template = env.get_template("subject.html.j2")
    return {s.page: template.render(site=site, s=s, root="../") for s in subjects}
