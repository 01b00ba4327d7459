"""The documentation's shape: a README that fits a first screen, an index that
leads to every page, links that resolve, each idea written in one place, the
configuration page generated from the settings, and no outside document cited.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from syncer.settings import Settings
from syncer.variables import REFERENCE_BEGIN, REFERENCE_END, reference, with_reference

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CONTRIBUTING = ROOT / "CONTRIBUTING.md"
DOCS = ROOT / "docs"
INDEX = DOCS / "index.md"
CONFIGURATION = DOCS / "configuration.md"
QUERYING = DOCS / "querying.md"
README_LIMIT = 10_000
# What holds today and how to reproduce it; the history is in git.
BENCHMARKS_LIMIT = 15_000
# Two files sharing this many words in a row say one thing twice.
SHARED_RUN = 12

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
COMMENT = re.compile(r"<!--.*?-->", re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
OUTSIDE_SPEC = re.compile(r"\b(?:the|product)\s+spec(?:'s)?\b|\bspec's\b", re.I)


def pages() -> list[Path]:
    """README.md, CONTRIBUTING.md and every page under docs/."""
    return [README, CONTRIBUTING, *sorted(DOCS.rglob("*.md"))]


def prose(path: Path) -> str:
    """The page without its fenced code blocks and HTML comments."""
    return COMMENT.sub(" ", FENCE.sub(" ", path.read_text(encoding="utf-8")))


def links(path: Path) -> list[str]:
    """Every link target of the page, outside code."""
    return LINK.findall(CODE_SPAN.sub(" ", prose(path)))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.lower().replace("`", ""))
    return text.strip().replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub(" ", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def local(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target)


def words(path: Path) -> list[str]:
    """The page's prose as lowercase words; link targets are not words of it."""
    text = re.sub(r"\]\([^)]*\)", "] ", prose(path))
    return re.findall(r"\w+", text.lower())


def runs(path: Path) -> set[tuple[str, ...]]:
    tokens = words(path)
    return {tuple(tokens[i : i + SHARED_RUN]) for i in range(len(tokens) - SHARED_RUN + 1)}


def test_the_readme_fits_a_first_screen() -> None:
    size = len(README.read_text(encoding="utf-8"))
    assert size <= README_LIMIT, f"README.md is {size} characters, over {README_LIMIT}"


def test_the_benchmarks_page_says_what_holds_and_no_more() -> None:
    size = len((ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8"))
    assert size <= BENCHMARKS_LIMIT, f"docs/benchmarks.md is {size} characters"


def test_the_index_links_every_page_directly() -> None:
    linked = {(INDEX.parent / t.split("#")[0]).resolve() for t in links(INDEX) if local(t)}
    unlinked = [
        str(page.relative_to(ROOT))
        for page in sorted(DOCS.rglob("*.md"))
        if page != INDEX and page.resolve() not in linked
    ]
    assert not unlinked, f"docs/index.md does not link: {unlinked}"


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_local_link_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        if not local(target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.relative_to(ROOT)}: {broken}"


def test_no_two_pages_share_a_run_of_words() -> None:
    found = {page: runs(page) for page in pages()}
    shared = []
    for a, b in itertools.combinations(found, 2):
        common = found[a] & found[b]
        if common:
            example = " ".join(min(common))
            shared.append(
                f"{a.relative_to(ROOT)} ~ {b.relative_to(ROOT)}: "
                f"{len(common)} runs, e.g. {example!r}"
            )
    assert not shared, "said twice (write it once, link it elsewhere):\n" + "\n".join(shared)


def test_the_configuration_page_holds_the_generated_table() -> None:
    page = CONFIGURATION.read_text(encoding="utf-8")
    assert REFERENCE_BEGIN in page and REFERENCE_END in page
    block = page.split(REFERENCE_BEGIN, 1)[1].split(REFERENCE_END, 1)[0]
    assert block == reference(), "docs/configuration.md is out of date: run make docs"
    assert with_reference(page) == page


def test_the_generated_table_names_every_setting_with_a_description() -> None:
    table = reference()
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
        assert f"`SYNCER_{name.upper()}`" in table
    rows = [line for line in table.splitlines() if line.startswith("| `SYNCER_")]
    assert len(rows) == len(Settings.model_fields)


def test_the_readme_queries_are_the_querying_pages() -> None:
    """The README's examples are run by the test of docs/querying.md's questions."""
    readme = re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    querying = QUERYING.read_text(encoding="utf-8")
    assert readme, "the README shows no query"
    missing = [sql for sql in readme if f"```sql\n{sql}```" not in querying]
    assert not missing, f"README queries not in docs/querying.md: {missing}"


def test_no_document_cites_a_spec_outside_the_repository() -> None:
    sources = [*pages(), *sorted((ROOT / "syncer").rglob("*.py"))]
    cited = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE_SPEC.search(line)
    ]
    assert not cited, cited
