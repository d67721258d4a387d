"""`hydrate report --html`: the site parses, links resolve, nothing is fetched from the
network, the numbers are the fleet's, and (in a real headless Chromium) the filter box
filters the cluster table."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pygit2
import pytest

from tests.conftest import BYPASS, commit_all, copy_example, hydrate

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
    # The page of a cluster: its packages by wave, and the digest the branch records.
    store = (out / "clusters/store-lab.html").read_text()
    assert "pos-app" in store
    assert "<h2>store-lab</h2>" in store


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
