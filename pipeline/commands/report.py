"""`hydrate report --html DIR`: gather what the fleet page shows (the working tree's
render, validation, catalog and graph; with git, each environment branch and what the
next promotion waits for) and write the site."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2

from pipeline import clock
from pipeline.access.fleet import Analyzer
from pipeline.commands import promote as promote_mod
from pipeline.commands import status as status_mod
from pipeline.commands.access import locator
from pipeline.commands.context import Context, load_inventory
from pipeline.commands.render import render_fleet
from pipeline.config.model import Inventory
from pipeline.errors import PipelineError
from pipeline.render.engine import ClusterRender
from pipeline.report import access as access_view
from pipeline.report import catalog as catalog_mod
from pipeline.report import graphview, site, svg
from pipeline.report.access import GrantView
from pipeline.sinks import ledger, places
from pipeline.validate import gate
from pipeline.validate.findings import Report
from pipeline.words import ago, counted


@dataclass(frozen=True)
class ReportOptions:
    out: Path
    remote: str | None = None
    main: str = "HEAD"
    jobs: int = os.cpu_count() or 1


@dataclass(frozen=True)
class ReportResult:
    out: Path
    files: tuple[str, ...]
    clusters: int
    packages: int
    findings: int
    seconds: float  # gathering (render, validation, catalog, branches) and writing
    writing: float  # writing the pages alone


def _subject(subject: str, source: str | None) -> str:
    """An env branch commit's subject without the source sha it starts with."""
    return subject.removeprefix(f"{source[:7]}: ") if source else subject


def _envs(ctx: Context, inv: Inventory, opts: ReportOptions,
          now: dt.datetime) -> tuple[list[site.EnvView], dict[str, tuple[str | None, str | None]]]:
    """Each environment's branch and promotion, and each cluster's (source, digest)."""
    try:
        repo = pygit2.Repository(pygit2.discover_repository(str(ctx.repo)) or "")
        states = {s.env: s for s in status_mod.status(ctx, opts.main, opts.remote)}
    except (PipelineError, pygit2.GitError, KeyError):
        repo, states = None, {}
    views: list[site.EnvView] = []
    per_cluster: dict[str, tuple[str | None, str | None]] = {}
    for env in inv.environments:
        st = states.get(env.name)
        head = st.head if st is not None else None
        origin = env.promotion.source if env.promotion is not None else None
        gates: tuple[site.Gate, ...] = ()
        problem, blocked, nxt = "", False, None
        if origin is not None and repo is not None:
            try:
                found = promote_mod.promote(ctx, promote_mod.PromoteOptions(
                    to=env.name, remote=opts.remote, dry_run=True, jobs=opts.jobs, main=opts.main))
                gates = tuple(site.Gate(g.name, g.passed, g.evidence) for g in found.gates)
                blocked, nxt = found.blocked, (found.source or "")[:7] or None
                problem = "" if gates else found.note
            except PipelineError as e:
                problem = str(e).splitlines()[0]
        if repo is not None and st is not None and st.head is not None:
            # The head status read (the remote's, with --remote), never a local branch
            # that may be stale or absent.
            led = ledger.read(repo, repo[st.head.commit].peel(pygit2.Commit))
            for name, entry in (led.clusters if led else {}).items():
                source = entry.source or (head.source if head else None)
                per_cluster[name] = (source[:7] if source else None, entry.digest or None)
        rollout = ""
        if st is not None and st.rollout is not None and st.rollout.steps:
            rollout = (f"rollout: {len(st.rollout.steps)} of {counted(st.rollout.total, 'wave')} "
                       "landed")
        views.append(site.EnvView(
            env.name, env.branch, env.agent,
            head.source[:7] if head is not None and head.source else None,
            _subject(head.subject, head.source) if head is not None else "",
            ago(head.time, now) if head is not None else "",
            head.clusters or 0 if head is not None else 0, head is not None, origin, rollout,
            st.waits if st is not None else "", gates, blocked, nxt,
            dict(st.holds) if st is not None else {}, problem))
    return views, per_cluster


def _clusters(inv: Inventory, renders: tuple[ClusterRender, ...], report: Report,
              per_cluster: dict[str, tuple[str | None, str | None]],
              access: Mapping[str, tuple[GrantView, ...]]) -> tuple[site.ClusterView, ...]:
    usage = {u.cluster: u for u in report.usage}
    rows = []
    for r in renders:
        c = r.cluster
        findings = tuple(f for f in report.findings if c.name in f.clusters)
        source, digest = per_cluster.get(c.name, (None, None))
        rows.append(site.ClusterView(
            c.name, c.environment, c.class_name, c.site, dict(c.labels),
            tuple(sorted(((p.name, p.wave, len(p.resources)) for p in r.packages),
                         key=lambda row: (row[1], row[0]))), source, digest,
            r.objects, findings, usage.get(c.name), access.get(c.name, ())))
    order = {e: i for i, e in enumerate(inv.env_names)}
    return tuple(sorted(rows, key=lambda v: (order[v.environment], v.name)))


def report(ctx: Context, opts: ReportOptions) -> ReportResult:
    """Build the site into `opts.out` (whole or not at all)."""
    start = time.monotonic()
    out = places.absolute(opts.out if opts.out.is_absolute() else ctx.repo / opts.out)
    places.claim_dir(out, what="--html", stamp=site.STAMP, protect=(ctx.repo,))  # before the work
    tree, inv = load_inventory(ctx)
    cache = ctx.cache()
    checker = gate.validator(tree, inv, cache, ctx.environ)
    rendered = render_fleet(ctx, tree, inv, (), (), opts.jobs, cache, validate=False)
    renders = rendered.fleet.clusters
    found = checker.run(renders, whole_fleet=True)
    cat = catalog_mod.build(tree, inv, renders, rendered.tools)
    access, subjects = access_view.build(inv, renders, Analyzer(inv, locator(tree)))
    now = clock.now(ctx.environ)
    envs, per_cluster = _envs(ctx, inv, opts, now)
    classes = tuple(sorted(inv.classes))
    matrix = {e: {cls: sum(1 for c in inv.clusters.values() if c.environment == e and c.class_name == cls)
                  for cls in classes} for e in inv.env_names}
    title = ctx.repo.name if ctx.repo.name not in ("", ".") else "fleet"
    page = site.Site(f"{title}: {counted(len(inv.clusters), 'cluster')}", now.strftime("%Y-%m-%d %H:%M %Z"),
                     tuple(envs), classes, matrix, _clusters(inv, renders, found, per_cluster, access), cat,
                     svg.render(graphview.view(renders, "fleet")), found.usage, found.findings,
                     found.waived, subjects)
    written = time.monotonic()
    files = site.write(page, out, protect=(ctx.repo,))
    end = time.monotonic()
    return ReportResult(out, tuple(files), len(renders), len(cat.packages), len(found.findings),
                        end - start, end - written)
