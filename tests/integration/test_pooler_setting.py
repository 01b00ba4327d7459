"""Through a transaction-mode PgBouncer without SYNCER_DATABASE_POOLER=transaction:
the prepared-statement errors name the missing setting, and the log says it once.

The pooler is made to move the service's connection to another server
connection between two transactions, deterministically: another client holds
the server connection the first transaction used.
"""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from standin.pgbouncer import PgBouncer
from syncer.errors import DatabaseError
from syncer.logging import configure_logging
from syncer.models import EPOCH, Target
from syncer.warehouse.store import Store

TARGET = Target("123456789012", "us-east-1")
# A statement in a transaction block, and one sent on its own (a page function).
STATEMENTS: dict[str, Callable[[Store], Awaitable[Any]]] = {
    "in a transaction": lambda store: store.watermarks(TARGET),
    "on its own": lambda store: store.close_package_listing(
        TARGET, [], absent_before=EPOCH, name_filter=None, unversioned=True, run_id=1
    ),
}


@pytest.mark.parametrize("statement", list(STATEMENTS))
@pytest.mark.parametrize("pooler", ["none", "transaction"])
async def test_a_prepared_statement_lost_to_the_pooler_names_the_setting_once(
    database_url: str, pgbouncer: PgBouncer, pooler: str, statement: str
) -> None:
    use = STATEMENTS[statement]
    pooled = pgbouncer.dsn(urlsplit(database_url).path.lstrip("/"))
    log = io.StringIO()
    configure_logging("INFO", "json", stream=log)
    async with Store.open(pooled, max_size=1, pooler=pooler) as store:
        await use(store)  # prepared on the server connection it got
        failures = []
        for _ in range(2):
            holder = await asyncpg.connect(pooled, statement_cache_size=0)
            try:
                async with holder.transaction():
                    await holder.execute("SELECT 1")  # holds that server connection
                    try:
                        await use(store)
                        await store.newest_group(TARGET)  # and another one
                    except (DatabaseError, asyncpg.PostgresError) as exc:
                        failures.append(exc)
            finally:
                await holder.close()
    told = [
        json.loads(line)
        for line in log.getvalue().splitlines()
        if "database.pooler_setting_missing" in line
    ]
    if pooler == "transaction":  # no statement kept: nothing to lose
        assert failures == [] and told == []
        return
    assert len(failures) == 2, failures
    for exc in failures:
        assert isinstance(exc, DatabaseError)
        assert "set SYNCER_DATABASE_POOLER=transaction" in str(exc)
        assert "\n" not in str(exc)
    assert len(told) == 1 and "SYNCER_DATABASE_POOLER=transaction" in told[0]["message"]
