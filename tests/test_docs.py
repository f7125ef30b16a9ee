"""README, docs/ and bench/README.md: every relative link resolves (as GitHub renders them), and
the guides stay guides (sizes the docs issue set)."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+\s+(.*)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http(s):, mailto:
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.name}: {target} does not exist"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{page.name}: {target} has no heading #{anchor}"


def test_the_guides_stay_short():
    assert len((ROOT / "README.md").read_bytes()) <= 12_000
    assert len((ROOT / "bench" / "README.md").read_bytes()) <= 25_000


def test_no_placeholder_is_left():
    for page in PAGES:
        assert not re.search(r"\b[A-Z]+_OURS\b|MEASURED_TABLE|FAMILY_[A-Z]+", page.read_text()), page
