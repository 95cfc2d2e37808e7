"""The README is the PyPI page: short, and every link in it works from PyPI.

PyPI resolves no relative link, so every link is absolute; each must lead somewhere real: a
page of the documentation site (built here, anchors included), a file of this repository
(by its GitHub address), or one of the few outside pages named below. The project's addresses
are written once in mkdocs.yml and must agree with pyproject.toml's [project.urls].
"""

from __future__ import annotations

import html
import re
import tomllib
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from docs_site import ROOT, built_site, setting

README = ROOT / "README.md"
OUTSIDE = {"https://jcristharif.com/msgspec/"}
"""Pages of other projects the README may link to (not checked over the network)."""

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)|<(https?://[^>\s]+)>")


def links() -> list[str]:
    text = re.sub(r"^```.*?^```", "", README.read_text(encoding="utf-8"), flags=re.S | re.M)
    return [a or b for a, b in LINK.findall(text)]


def test_readme_is_under_200_lines() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) < 200


def test_readme_links_are_absolute() -> None:
    assert links()
    relative = [url for url in links() if not url.startswith("https://")]
    assert not relative, f"PyPI cannot follow {relative}"


def repository_file(url: str, repo: str) -> Path | None:
    """The file of this repository that a GitHub address points at, or None."""
    owner_name = urlsplit(repo).path.strip("/")
    for prefix in (
        f"{repo}/blob/main/",
        f"{repo}/tree/main/",
        f"https://raw.githubusercontent.com/{owner_name}/main/",
    ):
        if url.startswith(prefix):
            return ROOT / unquote(url.removeprefix(prefix).split("#")[0])
    return None


def site_page(url: str, site_url: str) -> tuple[Path, str]:
    """The built page a docs address maps to, and its anchor ('' for none)."""
    path, _, anchor = url.removeprefix(site_url).partition("#")
    page = built_site() / unquote(path)
    return (page / "index.html" if not page.suffix else page), anchor


@pytest.mark.parametrize("url", sorted(set(links())))
def test_readme_link_resolves(url: str) -> None:
    site_url, repo = setting("site_url"), setting("repo_url")
    if url.startswith(site_url):
        page, anchor = site_page(url, site_url)
        assert page.is_file(), f"{url}: no page {page.relative_to(ROOT)} in the built site"
        if anchor:
            assert f'id="{html.escape(anchor)}"' in page.read_text(encoding="utf-8"), url
        return
    target = repository_file(url, repo)
    if target is not None:
        assert target.exists(), f"{url}: {target.relative_to(ROOT)} is not in the repository"
        return
    assert url in {repo, f"{repo}/issues"} | OUTSIDE, f"{url} is not a page this test knows"


def test_project_urls_agree_with_the_site() -> None:
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    repo, site_url = setting("repo_url"), setting("site_url")
    assert urls == {
        "Homepage": repo,
        "Documentation": site_url,
        "Source": repo,
        "Issues": f"{repo}/issues",
        "Changelog": f"{repo}/blob/main/CHANGELOG.md",
    }
    for url in urls.values():  # each is one the README's links may use
        assert url.startswith((repo, site_url))


def test_readme_renders_as_pypi_renders_it() -> None:
    """What ``twine check`` does for a Markdown long description (tests/test_wheel.py runs
    twine itself on the built distributions)."""
    from readme_renderer.markdown import render

    rendered = render(README.read_text(encoding="utf-8"), variant="GFM")
    assert rendered is not None
    assert 'alt="CPU time of the CSMS per OCPP message' in rendered  # the chart
    assert ">A CSMS and a station in 30 lines<" in rendered
    assert '<pre lang="python">' in rendered
