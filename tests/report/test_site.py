"""`hydrate report --html`: the site parses, links resolve, nothing is fetched from the
network, the numbers are the fleet's, and (in a real headless Chromium) the filter box
filters the cluster table."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import pygit2
import pytest

from tests.conftest import BYPASS, branch_files, commit_all, copy_example, hydrate

if TYPE_CHECKING:
    from pipeline.report import site as site_mod

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Page(HTMLParser):
    """Links, resources, ids and the cluster rows of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.rows: list[dict[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(str(a[key]))
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "tr" and "data-cluster" in a:
            self.rows.append(a)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text())
    page.close()
    return page


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The example fleet, published to dev and staging, and its report."""
    root = copy_example(tmp_path_factory.mktemp("report") / "config")
    # Everything on the page is escaped: a hostile label value stays text.
    store = root / "fleet/clusters/store-lab.yaml"
    store.write_text(store.read_text().replace("labels: {", "labels: {note: '<script>alert(1)</script>', "))
    repo = pygit2.init_repository(str(root), initial_head="main")
    commit_all(repo, "Fleet")
    remote = root.parent / "remote.git"
    pygit2.init_repository(str(remote), bare=True)
    for env in ("dev", "staging"):
        result = hydrate("--repo", root, "publish", "--env", env, "--remote", remote, "--push", *BYPASS)
        assert result.code == 0, result.err
    out = root.parent / "site"
    result = hydrate("--repo", root, "report", "--html", out, "--remote", remote)
    assert result.code == 0, result.err
    # 18 cluster pages, the CSS and the JS, and 14 subjects' access pages
    assert re.fullmatch(rf"wrote {re.escape(str(out))}/index.html and 34 more files: 18 clusters, "
                        r"12 packages, 0 findings in \d+\.\d\ds \(pages \d+\.\d\ds\)\n", result.out)
    return root, out


def test_every_page_parses_and_every_link_resolves(site: tuple[Path, Path]) -> None:
    _, out = site
    pages = sorted(out.rglob("*.html"))
    assert len(pages) == 33  # index, one page per cluster and one per subject with access
    for page in pages:
        parsed = _parse(page)
        for link in parsed.links:
            assert not re.match(r"(?i)^(https?:)?//", link), f"{page}: {link} is an external request"
            target, _, anchor = link.partition("#")
            resolved = (page.parent / target).resolve() if target else page
            assert resolved.is_file(), f"{page}: {link} does not resolve"
            if anchor and resolved.suffix == ".html":
                assert anchor in _parse(resolved).ids, f"{page}: #{anchor} is not on {resolved.name}"
    for page in pages:
        assert "<script>alert" not in page.read_text()
    assert "note=&lt;script&gt;alert(1)&lt;/script&gt;" in (out / "index.html").read_text()
    for path in out.rglob("*"):
        if path.is_file():
            assert not re.search(rb"(?i)(src|href)\s*=\s*[\"']?(https?:)?//", path.read_bytes()), path


def test_the_numbers_are_the_fleets(site: tuple[Path, Path]) -> None:
    root, out = site
    index = _parse(out / "index.html")
    rows = index.rows
    assert [r["data-cluster"] for r in rows][:4] == ["dc-lab-1", "edge-lab", "office-lab", "store-lab"]
    assert len(rows) == 18
    catalog = json.loads(hydrate("--repo", root, "catalog", "--format", "json").out)
    text = " ".join(index.text)
    for package in catalog["packages"]:
        assert package["name"] in text
    status = hydrate("--repo", root, "status", "--remote", root.parent / "remote.git").out
    dev_source = re.search(r"dev\s+\S+\s+([0-9a-f]{7})", status)
    assert dev_source, status
    html = (out / "index.html").read_text()
    assert f"<code>{dev_source[1]}</code>" in html
    assert "not published yet" in html  # prod
    # The page of a cluster: its packages by wave (then name), each with the objects the
    # branch holds for it, and the digest the branch records.
    store = (out / "clusters/store-lab.html").read_text()
    assert "<h2>store-lab</h2>" in store
    rows = [(int(w), p, int(n)) for w, p, n in re.findall(
        r'<tr><td class="num">(\d+)</td><td>([^<]+)</td><td class="num">(\d+)</td></tr>', store)]
    graph = json.loads(hydrate("--repo", root, "graph", "--cluster", "store-lab", "--format",
                               "json").out)
    waves = {p["name"]: p["waves"][0] for p in graph["packages"]}
    assert [(w, p) for w, p, _ in rows] == sorted((w, p) for p, w in waves.items())
    assert len({w for w, _, _ in rows}) > 2  # several waves, so the order is tested
    remote = pygit2.Repository(str(root.parent / "remote.git"))
    files = branch_files(remote, "env/dev")
    on_branch = {p: sum(1 for f in files if f.startswith(f"clusters/store-lab/{p}/")
                        and not f.endswith("/kustomization.yaml")) for p in waves}
    assert {p: n for _, p, n in rows} == on_branch
    digest = json.loads(files[".hydrate/metadata.json"])["clusters"]["store-lab"]["digest"]
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert f"<dt>digest</dt><dd><code>{digest}</code></dd>" in store
    assert '<tr data-cluster="store-lab"' in html
    row = html[html.index('<tr data-cluster="store-lab"'):]
    assert f"<td><code>{digest[:12]}</code></td>" in row[:row.index("</tr>")]


def test_a_cluster_page_lists_its_packages_in_wave_order(site: tuple[Path, Path]) -> None:
    root, out = site
    page = (out / "clusters/store-0003.html").read_text()
    table = page[page.index("Packages, by sync-wave"):]
    table = table[:table.index("</table>")]
    rows = [(int(w), p) for w, p in re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]+)</td>', table)]
    graph = json.loads(hydrate("--repo", root, "graph", "--cluster", "store-0003", "--format", "json").out)
    waves = {p["name"]: p["waves"][0] for p in graph["packages"]}
    assert sorted(p for _, p in rows) == sorted(waves)
    assert rows == sorted((w, p) for p, w in waves.items())  # by wave, then name
    assert len({w for w, _ in rows}) > 2


def test_the_filter_box_filters_the_table_in_a_real_browser(site: tuple[Path, Path], tmp_path: Path) -> None:
    _, out = site
    assert CHROMIUM is not None, "chromium is needed: scripts/test installs it (as root) when missing"
    rows = _parse(out / "index.html").rows

    def expected(query: str) -> list[str]:  # the filter's rule, applied here to the same rows
        words = query.lower().split()
        return [str(r["data-cluster"]) for r in rows
                if all(w in str(r["data-search"]).lower() for w in words)]
    url = (out / "index.html").as_uri()

    def dom(hash_: str) -> str:
        proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                               "--virtual-time-budget=2000", "--dump-dom", url + hash_],
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def visible(html: str) -> list[str]:
        return re.findall(r'<tr data-cluster="([^"]+)"(?![^>]*hidden)', html)

    assert len(visible(dom(""))) == 18
    assert visible(dom("#q=store")) == expected("store")
    assert len(expected("store")) == 7
    both = dom("#q=edge%20prod")
    assert visible(both) == expected("edge prod")
    assert 0 < len(expected("edge prod")) < len(expected("edge"))  # both words must match
    assert f"{len(expected('edge prod'))} of 18 shown" in both
    shot = tmp_path / "report.png"
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--screenshot={shot}", "--window-size=1440,1800", url],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_site_that_cannot_be_written_is_one_line(example: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = hydrate("--repo", example, "report", "--html", blocker / "site")
    assert result.code == 1
    assert result.err.startswith(f"hydrate: error: --html {blocker / 'site'}: cannot write: ")
    assert result.err.count("\n") == 1
    assert blocker.read_text() == "not a directory"


# --- the page model written directly: escaping, grouping, capacity, files -------------------

HOSTILE = "<script>alert(\"x\")</script> & 'q'"
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;q&#39;"


def _model(tmp_path: Path) -> site_mod.Site:
    from pipeline.report import site as site_mod
    from pipeline.report.access import GrantView, SubjectView
    from pipeline.report.catalog import Catalog, Entry
    from pipeline.validate.findings import Finding, ObjectRef, Source, Usage, Waived

    finding = Finding("latest-tag", "error", f"image {HOSTILE}", "pos-app",
                      ObjectRef("apps/v1", "Deployment", "pos", "pos-app"),
                      Source("overlays/x/values.yaml", 3), ("store-1",))
    warning = Finding("capacity", "warning", "above 80 %", None, None, None, ("store-1",))
    full = Usage("store-1", "pop", {"cpu": 11.0, "memory": 1.0, "pods": 300.0},
                 {"cpu": 10.0, "memory": 100.0, "pods": 330.0})
    busy = Usage("store-2", "pop", {"cpu": 8.5, "memory": 1.0, "pods": 1.0},
                 {"cpu": 10.0, "memory": 100.0, "pods": 330.0})
    calm = Usage("store-3", "pop", {"cpu": 1.0}, {"cpu": 10.0})
    other = Usage("store-4", "pop", {"cpu": 0.5}, {"cpu": 10.0})
    grant = GrantView(f"group:{HOSTILE}", "cluster-wide", "view", f"ClusterRoleBinding/{HOSTILE}")
    subject = SubjectView(f"group:{HOSTILE}", "subjects/hostile-1234abcd.html",
                          ((grant, "1 cluster", ("store-1",)),), 1)
    entry = Entry("pos-app", f"the tills {HOSTILE}", HOSTILE, "helm", None, "pos", (), (), (),
                  ("pop",), (), (), {"dev": 1}, ())
    cluster = site_mod.ClusterView(
        "store-1", "dev", "pop", "hh", {"note": HOSTILE},
        (("namespaces", 0, 1), ("pos-app", 2, 7), ("cert-manager", 1, 3)), "abc1234",
        "sha256:" + "d" * 64, 11, (finding,), full, (grant,))
    env = site_mod.EnvView("dev", "env/dev", "argocd", "abc1234", f"subject {HOSTILE}", "1h",
                           1, True, origin="main", gates=(site_mod.Gate("soak", False,
                                                                        f"evidence {HOSTILE}"),),
                           holds={"f" * 40: f"rolled back: {HOSTILE}"}, waits=HOSTILE)
    waived = Waived(finding, "fleet/policy.yaml:4", f"reason {HOSTILE}")
    return site_mod.Site(f"fleet {HOSTILE}", "2026-11-30T08:00Z", (env,), ("pop",),
                         {"dev": {"pop": 1}}, (cluster,), Catalog(("dev",), 1, (entry,)),
                         "<svg></svg>", (full, busy, calm, other), (finding, warning),
                         (waived,), (subject,))


def test_every_text_from_the_fleet_is_escaped_on_every_page(tmp_path: Path) -> None:
    """A name with <script>, quotes and & (in labels, subjects, messages, reasons, the
    title) is written as text, escaped, in element content and in attributes alike, and
    reads back as the same text."""
    from pipeline.report import site as site_mod

    out = tmp_path / "site"
    written = site_mod.write(_model(tmp_path), out)
    assert written == ["app.js", "clusters/store-1.html", "index.html",
                       "style.css", "subjects/hostile-1234abcd.html"]
    for rel in written:
        if rel.endswith(".html"):
            html = (out / rel).read_text()
            assert "<script>alert" not in html, rel
            assert "'q'" not in html, rel
            assert '"x"' not in html, rel
            assert ESCAPED in html, rel
    index = (out / "index.html").read_text()
    assert f'data-search="store-1 dev pop hh note={ESCAPED} namespaces pos-app cert-manager ' \
           '"' in index  # an attribute: its quotes escaped, so it cannot be closed early
    assert f"<title>fleet {ESCAPED}</title>" in index
    assert f'<span class="label">note={ESCAPED}</span>' in index
    assert f'<span class="evidence">evidence {ESCAPED}</span>' in index
    assert f"held: <code>fffffff</code> rolled back: {ESCAPED}" in index
    page = _parse(out / "clusters/store-1.html")
    assert f"note={HOSTILE}" in "".join(page.text)  # the text itself survives
    subject = (out / "subjects/hostile-1234abcd.html").read_text()
    assert f"<h2><code>group:{ESCAPED}</code></h2>" in subject


def test_a_cluster_page_shows_its_packages_as_given_and_its_digest(tmp_path: Path) -> None:
    from pipeline.report import site as site_mod

    out = tmp_path / "site"
    site_mod.write(_model(tmp_path), out)
    page = (out / "clusters/store-1.html").read_text()
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]+)</td><td class="num">(\d+)'
                      r"</td></tr>", page)
    assert rows == [("0", "namespaces", "1"), ("2", "pos-app", "7"), ("1", "cert-manager", "3")]
    assert f"<dt>digest</dt><dd><code>sha256:{'d' * 64}</code></dd>" in page
    assert "<dt>source</dt><dd><code>abc1234</code></dd>" in page
    index = (out / "index.html").read_text()
    assert "<td><code>sha256:ddddd</code></td>" in index  # the table shows 12 characters
    assert '<a href="clusters/store-1.html">store-1</a>' in index


def test_capacity_shows_each_class_by_its_fullest_cluster(tmp_path: Path) -> None:
    from pipeline.report import site as site_mod

    model = _model(tmp_path)
    (row,) = model.capacity()
    assert row["cls"] == "pop"
    assert row["clusters"] == 4
    assert [u.cluster for u in row["busiest"]] == ["store-1", "store-2", "store-3"]
    assert row["top"].cluster == "store-1"
    assert row["bars"] == [("cpu", 110.0), ("memory", 1.0), ("pods", 300 * 100 / 330)]
    out = tmp_path / "site"
    site_mod.write(model, out)
    index = (out / "index.html").read_text()
    assert ('<span class="fill over" style="width: 100%"></span></span>'
            '<span class="bar-value">110 %</span>') in index
    assert '<span class="fill high" style="width: 90.9' in index  # pods: 91 %, high
    assert '<span class="fill ok" style="width: 1.0%"></span>' in index
    assert "busiest: store-1 110 %, store-2 85 %, store-3 10 %</div>" in index
    empty = replace(model, usage=())
    assert empty.capacity() == []


def test_findings_are_grouped_by_rule_in_order(tmp_path: Path) -> None:
    from pipeline.report import site as site_mod

    model = _model(tmp_path)
    assert [(rule, [f.message[:5] for f in items]) for rule, items in model.by_rule()] == [
        ("capacity", ["above"]), ("latest-tag", ["image"])]
    assert site_mod.counts(model.clusters) == {"clusters": 1, "objects": 11}
    assert site_mod.page_name("store-1") == "clusters/store-1.html"
    assert model.subject_pages == {f"group:{HOSTILE}": "subjects/hostile-1234abcd.html"}
    out = tmp_path / "site"
    site_mod.write(model, out)
    index = (out / "index.html").read_text()
    assert index.index("<h3>capacity <span") < index.index("<h3>latest-tag <span")
    assert '<li class="error"><span class="sev">waived</span> [latest-tag]' in index


@pytest.mark.parametrize(("value", "level", "shown"), [
    (None, "", "–"), (0.0, "ok", "0 %"), (80.0, "ok", "80 %"), (80.4, "high", "80 %"),
    (100.0, "high", "100 %"), (100.5, "over", "100 %"), (82.6, "high", "83 %"),
])
def test_a_share_is_shown_rounded_and_levelled_above_80_and_100(
        value: float | None, level: str, shown: str) -> None:
    from pipeline.report import site as site_mod

    env = site_mod._env()
    assert env.filters["level"](value) == level
    assert env.filters["pct"](value) == shown


def test_a_page_links_its_style_and_script_from_where_it_is(tmp_path: Path) -> None:
    from pipeline.report import site as site_mod

    out = tmp_path / "site"
    site_mod.write(_model(tmp_path), out)
    index = (out / "index.html").read_text()
    page = (out / "clusters/store-1.html").read_text()
    assert '<link rel="stylesheet" href="style.css">' in index
    assert '<script src="app.js"></script>' in index
    assert '<link rel="stylesheet" href="../style.css">' in page
    assert '<a class="brand" href="../index.html">hydrate</a>' in page
    # Block tags leave no blank lines or stray indentation behind.
    assert ('<ol class="path">\n    <li class="env live">\n      <div class="env-name">dev</div>'
            in index)


def test_a_template_naming_what_the_model_lacks_fails_loudly() -> None:
    import jinja2

    from pipeline.report import site as site_mod

    with pytest.raises(jinja2.UndefinedError):
        site_mod._env().from_string("{{ site.nothing }}").render(site={})


def test_the_site_is_not_written_over_the_repository(tmp_path: Path) -> None:
    from pipeline.errors import PipelineError
    from pipeline.report import site as site_mod

    repo = tmp_path / "config"
    (repo / "fleet").mkdir(parents=True)
    (repo / "fleet/x.yaml").write_text("x\n")
    for out in (repo, tmp_path):
        with pytest.raises(PipelineError) as err:
            site_mod.write(_model(tmp_path), out, protect=[repo])
        assert str(err.value).startswith(f"--html {out}: ")
    assert (repo / "fleet/x.yaml").read_text() == "x\n"
    empty = tmp_path / "empty-repository"  # claimable as an empty folder, but protected
    empty.mkdir()
    with pytest.raises(PipelineError, match=rf"^--html {empty}: "):
        site_mod.write(_model(tmp_path), empty, protect=[empty])
    assert list(empty.iterdir()) == []


def test_a_class_without_clusters_is_skipped_and_the_next_shown(tmp_path: Path) -> None:
    model = replace(_model(tmp_path), classes=("edge", "pop"))
    assert [row["cls"] for row in model.capacity()] == ["pop"]
