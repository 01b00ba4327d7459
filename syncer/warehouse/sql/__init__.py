"""Named SQL queries, parsed once from the ``.sql`` files beside this module."""

from __future__ import annotations

import re
from importlib import resources

_HEADER = re.compile(r"^-- name: ([a-z_]+)\s*$", re.MULTILINE)


def parse_queries(text: str) -> dict[str, str]:
    """Split a file into its ``-- name: x`` sections; comments stay with their query."""
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} defined twice")
        sql = body.strip()
        if not sql:
            raise ValueError(f"query {name!r} is empty")
        queries[name] = sql
    return queries


def load_queries(*files: str) -> dict[str, str]:
    """The named queries of several files; a name defined in two is an error."""
    queries: dict[str, str] = {}
    for file in files:
        for name, sql in parse_queries(
            resources.files(__name__).joinpath(file).read_text("utf-8")
        ).items():
            if name in queries:
                raise ValueError(f"query {name!r} defined twice")
            queries[name] = sql
    return queries


QUERIES = load_queries(
    "queries.sql",
    "feed.sql",
    "cycle.sql",
    "status.sql",
    "details.sql",
    "deployments.sql",
    "privacy.sql",
    "events.sql",
)
