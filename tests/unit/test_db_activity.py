"""`db queries` lists every session of the database with what it waits for, and `db locks` shows
who blocks whom as a tree (as `pg_blocking_pids`), both read from the model's state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from oncall_dojo.game.escalation import JOIN_S
from oncall_dojo.game.play import perform, wait
from oncall_dojo.game.session import Session
from oncall_dojo.game.views import db_sessions
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.packs import find
from oncall_dojo.sim.dbactivity import APP_USER
from oncall_dojo.tui.completion import complete

Digest = Callable[[Session], dict[str, Any]]


@pytest.fixture(scope="module")
def locked() -> Session:
    """api-timeouts-db-idle at its page: a migration queued behind an analytics query, and
    every query on orders queued behind the migration."""
    return Session(load_incident(find("api-timeouts-db-idle")), 1)


def test_db_queries_lists_every_connection_and_what_it_waits_for(locked: Session) -> None:
    s = locked
    out = perform(s, "db queries").output
    lines = out.splitlines()
    pool = s.system.cfg.api.pool_size
    assert round(s.system.pool_in_use) == pool == 24  # the pool is exhausted
    assert lines[0] == (
        "26 sessions: 2 long-running queries, 24 API connections (pool 24/24); 25 waiting "
        "for a lock (`db locks` shows who blocks whom)"
    )
    analytics, migration = s.system.db.backends
    rows = lines[2:]
    assert len(rows) == 26
    assert rows[0].split()[:3] == [str(analytics.pid), "metabase", "-"]
    assert rows[1].split()[:5] == [
        str(migration.pid),
        "migrate",
        "Lock,",
        "behind",
        str(analytics.pid),
    ]
    app_rows = [r for r in rows if r.split()[1] == APP_USER]
    assert len(app_rows) == 24
    assert all(f"Lock, behind {migration.pid}" in r for r in app_rows)
    assert all("FROM orders" in r or "INTO orders" in r for r in app_rows)


def test_db_locks_is_a_tree_from_the_session_that_blocks_everyone(locked: Session) -> None:
    s = locked
    analytics, migration = s.system.db.backends
    lines = perform(s, "db locks").output.splitlines()
    assert lines[0] == "Lock waits on postgres (who blocks whom, as pg_blocking_pids):"
    assert lines[1].startswith(f"  {analytics.pid} metabase  holds AccessShareLock on orders")
    assert lines[2].startswith(
        f"     └─ {migration.pid} migrate  waits for AccessExclusiveLock on orders"
    )
    grouped = lines[3:]
    assert all(g.startswith("        └─ ") and "API connection" in g for g in grouped)
    assert sum(int(g.split()[1]) for g in grouped) == 24


def test_every_wait_names_a_session_that_exists(locked: Session) -> None:
    acts = db_sessions(locked)
    pids = {a.pid for a in acts}
    assert len(pids) == len(acts)  # one pid per session
    for a in acts:
        assert a.waiting == bool(a.blocked_by) and set(a.blocked_by) <= pids


def test_killing_a_pooled_connection_is_refused_with_the_reason(digest: Digest) -> None:
    s = Session(load_incident(find("api-timeouts-db-idle")), 1)
    app = next(a for a in db_sessions(s) if a.user == APP_USER)
    before = digest(s)
    e = perform(s, f"kill {app.pid}")
    assert e.kind == "refused"
    assert e.output.startswith(
        f"pid {app.pid} is one of the API's pooled connections, running a request's query "
        f"(it waits behind {app.blocked_by[0]})"
    )
    assert digest(s) == before
    migration = s.system.db.backends[1]
    assert perform(s, f"kill {migration.pid}").kind == "act"
    for _ in wait(s, 20):
        pass
    assert perform(s, "db locks").output == "No session waits for a lock."
    assert perform(s, "db queries").output.splitlines()[0] == "1 session: 1 long-running query"


def test_a_quiet_database_says_so(paged: Session) -> None:
    assert perform(paged, "db queries").output == "No session is running a query right now."
    assert perform(paged, "db locks").output == "No session waits for a lock."
    refused = perform(paged, "db lock")
    assert refused.kind == "refused" and "db [queries|locks|indexes]" in refused.output


def test_completion_offers_locks(paged: Session) -> None:
    assert complete("db l", paged) == ("db locks ", [])
    assert complete("db ", paged)[1] == ["queries", "locks", "indexes"]


def test_the_database_on_call_reports_the_lock_queue() -> None:
    s = Session(load_incident(find("api-timeouts-db-idle")), 1)
    analytics = s.system.db.backends[0]
    perform(s, "escalate dba who is blocking orders?")
    for _ in wait(s, JOIN_S):
        pass
    said = s.entries[-1]
    assert said.player == "postgres on-call"
    assert (
        f"; 25 sessions wait for a lock, at the head of the queue pid {analytics.pid} (metabase, "
        in said.output
    )
