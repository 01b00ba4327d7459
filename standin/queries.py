"""The SQL the documentation shows, read from its page: the tests run it, the bench times it."""

from __future__ import annotations

import re
from pathlib import Path

QUERYING = Path(__file__).resolve().parents[1] / "docs" / "querying.md"
SECTION = "## Seventeen questions"


def documented_queries(page: Path = QUERYING, section: str = SECTION) -> list[tuple[str, str]]:
    """(question, sql) for each ```sql block of the section; the question is the
    text in bold above it."""
    text = page.read_text(encoding="utf-8")
    start = text.index(section) + len(section)
    end = text.find("\n## ", start)
    body = text[start : end if end >= 0 else len(text)]
    return [
        (match[1].strip(), match[2].strip())
        for match in re.finditer(r"\*\*(.+?)\*\*[^`]*?```sql\n(.*?)```", body, re.S)
    ]
