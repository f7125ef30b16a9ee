"""README, docs/ and bench/README.md: every relative link resolves (as GitHub renders them), and
the guides stay guides (sizes the docs issue set)."""

import pathlib
import re

import pytest

# Links and tables of markdown files: `python -m tests` runs this module on one backend (tests/conftest.py).
pytestmark = pytest.mark.once

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


# Paper against ours: every table with a "paper" and an "ours" column compares like with like.

NUMBER = re.compile(r"\b\d+\.\d\d\b")


def markdown_tables(text):
    """Each table as (header cells, rows of cells), cells stripped; the separator row dropped."""
    tables, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|(\s*:?-+:?\s*\|)+\s*$", lines[i + 1]) \
                and not (i and lines[i - 1].startswith("|")):
            rows, j = [], i + 2
            while j < len(lines) and lines[j].startswith("|"):
                rows.append(cells(lines[j]))
                j += 1
            tables.append((cells(line), rows))
    return tables


def cells(line):
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def comparison_tables():
    """(page, header, rows) of every table with columns that start with "paper" and "ours"."""
    found = []
    for page in PAGES:
        for header, rows in markdown_tables(page.read_text()):
            names = [h.lower() for h in header]
            if any(n.startswith("paper") for n in names) and any(n.startswith("ours") for n in names):
                found.append((page, names, rows))
    return found


def our_runs():
    import json

    return json.loads((ROOT / "bench" / "runs.json").read_text())["runs"]


def check_row(names, row):
    """The problems of one paper-vs-ours row (an empty list: it compares like with like)."""
    from zoo import presets, protocols

    column = {name.split(" ")[0]: value for name, value in zip(names, row)}
    missing = [c for c in ("preset", "protocol", "estimator", "paper", "ours") if c not in column]
    if missing:
        return [f"the table lacks the columns {missing}"]
    preset = re.fullmatch(r"`([a-z0-9_]+)`", column["preset"])
    if preset is None or preset.group(1) not in presets.names():
        return [f"{column['preset']!r} is not one preset"]
    preset, protocol = preset.group(1), column["protocol"]
    if protocol not in protocols.PROTOCOLS:
        return [f"{protocol!r} is not a protocol of zoo.protocols"]
    entry = protocols.published(preset, protocol)
    problems = []
    paper = [float(n) for n in NUMBER.findall(column["paper"])]
    if entry is None:
        if paper:
            problems.append(f"{preset}: no published number on {protocol}, yet the row shows {paper}")
        k = 5000 if column["estimator"] == protocols.estimator_name(5000) else None
    else:
        if paper != [entry.nll]:
            problems.append(f"{preset} on {protocol}: the paper's number is {entry.nll}, the row shows {paper}")
        if column["estimator"] != entry.estimator:
            problems.append(f"{preset}: the paper's estimator is {entry.estimator!r}, the row says {column['estimator']!r}")
        k = entry.k
    ours = {value for run in our_runs() if run["preset"] == preset and run["protocol"] == protocol
            and run["k"] == k for value in run["nll"]}
    for value in (float(n) for n in NUMBER.findall(column["ours"])):
        if value not in ours:
            problems.append(f"{preset}: ours {value} is no run on {protocol} with {protocols.estimator_name(k)} "
                            f"in bench/runs.json (those: {sorted(ours)})")
    return problems


def test_papers_numbers_stand_only_beside_runs_of_their_protocol():
    tables = comparison_tables()
    pages = {page.name if page.parent == ROOT else str(page.relative_to(ROOT)) for page, _, _ in tables}
    assert {"README.md", "bench/README.md", "docs/models.md"} <= pages, pages
    problems = [f"{page.relative_to(ROOT)}: {problem}" for page, names, rows in tables
                for row in rows for problem in check_row(names, row)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("row, problem", [
    # The 2026-12-06 README: a static-binarization number beside a dynamic run.
    (["`iwae_mnist`", "dynamic-mnist", "IS, k = 5000", "88.71", "87.01"], "the paper's number is 86.76"),
    (["`iwae_mnist`", "static-mnist", "IS, k = 5000", "88.71", "87.01"], "ours 87.01 is no run on static-mnist"),
    (["`iwae_mnist`", "dynamic-mnist", "bound (−ELBO)", "86.76", "87.01"], "the paper's estimator is 'IS, k = 5000'"),
    (["`iaf_mnist`", "static-mnist", "IS, k = 5000", "79.88", "—"], "no published number on static-mnist"),
    (["`iwae_mnist`", "static", "IS, k = 5000", "88.71", "—"], "not a protocol"),
    (["`iwae_mnist`, `iwae_mnist_k5`", "dynamic-mnist", "IS, k = 5000", "86.76", "—"], "not one preset"),
])
def test_a_row_across_protocols_is_caught(row, problem):
    names = ["preset", "protocol", "estimator", "paper (nats)", "ours (nats)"]
    assert any(problem in found for found in check_row(names, row)), check_row(names, row)
    assert check_row(names, ["`iwae_mnist`", "dynamic-mnist", "IS, k = 5000", "86.76", "87.01, 86.99"]) == []
