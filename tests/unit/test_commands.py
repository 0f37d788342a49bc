"""The command grammar: help, refusals that change nothing, evidence, and the paperwork commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from oncall_dojo.game.commands import COMMANDS, evidence_kinds
from oncall_dojo.game.play import perform
from oncall_dojo.game.session import Diagnosis, Session
from oncall_dojo.incident.model import Incident
from oncall_dojo.net.roles import powers_text

Digest = Callable[[Session], dict[str, Any]]


@pytest.fixture(scope="module")
def shared(poison: Incident) -> Session:
    """One paged session for commands that must not change anything (refusals, investigations)."""
    return Session(poison, 1)


def poison_id(s: Session) -> str:
    return next(f.state["id"] for f in s.fault_runs if f.spec.kind == "poison_message")


# ----------------------------------------------------------------------------- help


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_usage_and_help(name: str, shared: Session) -> None:
    cmd = COMMANDS[name]
    assert cmd.usage.startswith(name)
    assert len(cmd.help) > 10
    assert cmd.kind in ("investigate", "act", "meta")
    entry = perform(shared, f"help {name}")
    assert entry.kind == "meta"
    assert cmd.usage in entry.output
    assert cmd.help in entry.output


def test_help_lists_every_command(shared: Session) -> None:
    out = perform(shared, "help").output
    for cmd in COMMANDS.values():
        assert cmd.usage in out


def test_investigations_are_never_counted_as_changes() -> None:
    assert not any(c.mutates for c in COMMANDS.values() if c.kind != "act")
    assert not COMMANDS["ack"].mutates
    assert COMMANDS["purge"].mutates


# ----------------------------------------------------------------------------- refusals


REFUSED = [
    # unknown
    ("resatrt billing", "unknown command `resatrt`. Did you mean `restart`?"),
    ("qeueus", "Did you mean `queues`?"),
    # the names of a team game's powers, told the command behind them (not "did you mean restart")
    (
        "status mitigated: draining",
        'unknown command `status`. To post a status update: `update "TEXT"`',
    ),
    ("declare queue:payments poison-message", "To declare the cause: `diagnose PART MECHANISM`"),
    ("dlq", "`dlq` needs one of: move, replay"),
    ("", "empty command"),
    ('update "unclosed', "cannot parse the command"),
    # malformed
    ("scale billing", "usage: scale SERVICE N"),
    ("queue", "usage: queue NAME"),
    ("dlq move payments", "usage: dlq move QUEUE MSG_ID|top"),
    ("scale billing many", "replicas must be a whole number, got 'many'"),
    ("scale billing 9999", "replicas must be between 0 and 500, got 9999"),
    ("scale billing 41", "billing can have at most 40 replicas"),
    ("kill abc", "pid must be a whole number, got 'abc'"),
    ("logs billing re=(", "bad regex '('"),
    ("logs billing level=loud", "level must be one of debug, info, warn, error, fatal"),
    ("logs billing limit=0", "limit must be between 1 and 500"),
    ("logs billing since=soon", "duration must look like 90, 90s, 15m or 1h, got 'soon'"),
    ("logs billing level:loud", "log query, column 15: unknown level 'loud'"),
    ("logs /(/", "log query, column 2: bad regex"),
    ('logs "unclosed', "log query, column 1: unclosed quote"),
    ("logs billing colour:red", "unknown key 'colour:'"),
    ("metrics 'queue_depth{queue}'", "bad label matcher in 'queue_depth{queue}'"),
    ("metrics 9lives", "not a metric selector: '9lives'"),
    ("metrics no_such_metric", "no series match no_such_metric"),
    ("metrics queue_depth fn=p99", "p99 needs a histogram"),
    ("metrics queue_depth fn=median", "unknown fn 'median'"),
    ("queue nowhere", "no queue 'nowhere'; queues: payments, emails, fulfillment"),
    ("workers nobody", "no worker pool 'nobody'"),
    ("restart nothing", "no service 'nothing'"),
    ("restart billing billing-nope-1", "no replica 'billing-nope-1' in billing"),
    ("deploy billing v9.9.9", "no build v9.9.9 of billing in the registry"),
    ("deploy billing v2.8.4 percent=0", "percent must be between 1 and 100"),
    (
        "index create idx orders id blocking",
        "usage: index create NAME TABLE COLUMNS [concurrently]",
    ),
    ("index create idx nosuchtable id", "no table 'nosuchtable'"),
    ("config NotAKey 1", "config keys look like payments.retry.backoff"),
    ("ratelimit GET /nowhere 5", "no route 'GET /nowhere'"),
    ("ramp GET /nowhere 5 50 300", "no route 'GET /nowhere'"),
    (
        "ramp GET /api/products 50 5 300",
        "a ramp rises: the end rate (5) must be above the start (50)",
    ),
    ("ramp GET /api/products 5 50", "usage: ramp ROUTE FROM_RPS TO_RPS SECONDS|off"),
    ("ramp GET /api/products off", "no ramp on GET /api/products"),
    ("update too short", "a status update needs a sentence"),
    ("db tables", "usage: db [queries|locks|indexes]"),
    (
        "runbook nope",
        "no runbook 'nope'; runbooks: api-errors, autoscaling, batch-jobs, broker, changes,",
    ),
    ("failover everything", "failover what?"),
    ("diagnose gremlins", "usage: diagnose PART MECHANISM [NOTES]"),
    ("diagnose gremlins wires", "no part 'gremlins' in this system"),
    ("diagnose queue:paymnts poison-message", "did you mean 'queue:payments'?"),
    (
        "diagnose queue:payments poison-mesage",
        "no mechanism 'poison-mesage'; did you mean 'poison-message'?",
    ),
    ("help frobnicate", "no command 'frobnicate'"),
    # impossible now
    ("purge emails", "emails has no waiting messages"),
    ("rollback billing", "billing runs only v2.8.3 and has no earlier version"),
    ("dlq replay payments", "payments.dlq is empty"),
    ("kill 99999", "no running backend with pid 99999"),
    ("resume payments", "consumers of payments are not paused"),
    ("refund duplicates", "no duplicate charges"),
    ("dlq move payments msg_zzzzzzzz", "queue payments has no message msg_zzzzzzzz"),
    ("job run backfill", "no job 'backfill'"),
    ("flag dark-mode on", "no flag 'dark-mode'"),
    ("scale api 0", "the API needs at least one replica"),
]


@pytest.mark.parametrize(("command", "reason"), REFUSED, ids=[c or "<empty>" for c, _ in REFUSED])
def test_a_refused_command_says_why_and_changes_nothing(
    command: str, reason: str, shared: Session, digest: Digest
) -> None:
    if command == "purge emails":
        assert shared.system.queues["emails"].depth == 0, "precondition: nothing waits on emails"
    before = digest(shared)
    entry = perform(shared, command)
    assert entry.kind == "refused"
    assert reason in entry.output
    assert shared.entries[-1] is entry
    assert entry.evidence is None
    assert digest(shared) == before


def test_the_digest_notices_a_change(paged: Session, digest: Digest) -> None:
    before = digest(paged)
    assert perform(paged, "pause emails").kind == "act"
    assert digest(paged) != before


# ----------------------------------------------------------------------------- investigation


EVIDENCE = [
    ("logs billing", "logs:billing"),
    ("logs billing level=warn grep=decoding", "logs:billing"),
    ("logs", "logs:all"),
    ("queue payments", "queue:payments"),
    ("queue payments.dlq", "queue:payments"),
    ("queues", "queues"),
    ("messages payments", "messages:payments"),
    ("workers billing", "workers:billing"),
    ("workers", "workers"),
    ("metrics queue_depth", "metrics:queue_depth"),
    ("metrics", "metrics"),
    ("deploys", "deploys"),
    ("db", "db:stats"),
    ("db queries", "db:queries"),
    ("alerts", "alerts"),
    ("map", "map"),
    ("runbook queue-lag", "runbook:queue-lag"),
    ("runbook", "runbook"),
    ("flags", "flags"),
    ("jobs", "jobs"),
]


@pytest.mark.parametrize(("command", "key"), EVIDENCE)
def test_an_investigation_records_its_evidence_key_and_changes_nothing(
    command: str, key: str, shared: Session, digest: Digest
) -> None:
    before = digest(shared)
    entry = perform(shared, command)
    assert entry.kind == "investigate", entry.output
    assert entry.evidence == key
    assert key in shared.evidence_seen()
    assert entry.output.strip()
    assert digest(shared) == before


def test_the_payments_queue_view_shows_the_poison_message_as_most_delivered(
    shared: Session,
) -> None:
    out = perform(shared, "queue payments").output
    most = out.split("most delivered waiting messages:")[1].splitlines()[1]
    assert poison_id(shared) in most


def test_logs_take_the_log_explorer_query_language(shared: Session) -> None:
    """The console's `logs` reads the explorer's queries; the older `SERVICE level=... grep=...`
    forms mean the same terms, and `help logs` shows the syntax."""
    old = perform(shared, "logs billing level=warn grep=poison limit=50")
    new = perform(shared, 'logs service:billing level:warn "poison" limit=50')
    assert old.kind == new.kind == "investigate" and old.output == new.output
    assert new.evidence == "logs:billing"
    # quotes, backslashes and spaces in a regex are the query's own
    rx = perform(shared, "logs service:billing /msg_id=msg_\\w+ / since:1h limit=3")
    assert rx.kind == "investigate" and len(rx.output.splitlines()) == 3
    assert all("billing" in line for line in rx.output.splitlines())
    # a first word that names no service is text, as in the explorer
    text = perform(shared, "logs nosuchservice")
    assert text.kind == "investigate" and text.output == "No log lines match (last 15 min)."
    assert "level:=error" in perform(shared, "help logs").output


def test_billing_logs_name_the_poison_message(shared: Session) -> None:
    out = perform(shared, "logs billing level=warn limit=50").output
    assert poison_id(shared) in out
    assert "WARN" in out or "FATAL" in out
    assert "DEBUG" not in out


def test_the_page_alert_is_firing_in_the_alerts_view(shared: Session) -> None:
    out = perform(shared, "alerts").output
    assert "FIRING" in out
    assert "QueueAgeHigh_payments" in out


def test_metrics_accepts_a_label_selector(shared: Session, digest: Digest) -> None:
    before = digest(shared)
    entry = perform(shared, "metrics 'queue_depth{queue=\"payments\"}' fn=max window=10m")
    assert entry.kind == "investigate", entry.output
    assert entry.evidence == "metrics:queue_depth"
    assert 'queue_depth{queue="payments"}' in entry.output
    assert 'queue="emails"' not in entry.output
    assert digest(shared) == before


# ----------------------------------------------------------------------------- paperwork


def test_ack_records_the_time_and_a_second_ack_is_refused(paged: Session) -> None:
    paged.advance(20)
    first = perform(paged, "ack")
    assert first.kind == "act"
    assert paged.acked_at == 20
    paged.advance(5)
    second = perform(paged, "ack")
    assert second.kind == "refused"
    assert "already acknowledged at 00:20" in second.output
    assert paged.acked_at == 20


def test_hint_shows_its_cost_and_hint_take_records_it(paged: Session, poison: Incident) -> None:
    costs = [h.cost for h in poison.hints]
    peek = perform(paged, "hint")
    assert f"Hint 1 of {len(costs)} costs {costs[0]} points" in peek.output
    assert paged.hints_taken == []
    taken = perform(paged, "hint take")
    assert paged.hints_taken == [0]
    assert poison.hints[0].text in taken.output
    assert f"(-{costs[0]})" in taken.output
    assert f"Hint 2 of {len(costs)} costs {costs[1]} points" in perform(paged, "hint").output
    perform(paged, "hint take")
    assert paged.hints_taken == [0, 1]
    last = perform(paged, "hint take")
    assert last.kind == "refused"
    assert "no more hints" in last.output
    assert paged.hints_taken == [0, 1]


def test_diagnose_records_a_known_cause_and_refuses_an_unknown_one(paged: Session) -> None:
    assert perform(paged, "diagnose gremlins in the wires").kind == "refused"
    assert paged.diagnosis is None
    paged.advance(30)
    entry = perform(paged, "diagnose queue:payments poison-message one bad message kills billing")
    assert entry.kind == "act"
    assert paged.diagnosis == Diagnosis(
        "queue:payments", "poison-message", "one bad message kills billing", 30
    )


def test_update_records_the_status_text(paged: Session) -> None:
    perform(paged, 'update "Card charges are delayed; we are on it."')
    assert paged.status_updates == [(0, "Card charges are delayed; we are on it.")]


def test_after_resolve_every_command_is_refused(paged: Session, digest: Digest) -> None:
    perform(paged, "ack")
    assert perform(paged, "resolve fixed, probably").kind == "act"
    assert paged.declared_resolved_at == 0
    before = digest(paged)
    for command in ("restart billing", "purge payments", "logs billing", "ack", "resolve"):
        entry = perform(paged, command)
        assert entry.kind == "refused", command
        assert "the incident is over" in entry.output
    assert digest(paged) == before


def test_dlq_move_top_quarantines_the_poison_message(paged: Session) -> None:
    q = paged.system.queues["payments"]
    while not q.top_delivered(1):  # the poison message may be in flight at the page
        paged.advance(1)
    entry = perform(paged, "dlq move payments top")
    assert entry.kind == "act", entry.output
    assert poison_id(paged) in entry.output
    assert q.dlq_depth == 1
    again = perform(paged, f"dlq move payments {poison_id(paged)}")
    assert again.kind == "refused"
    assert "already in payments.dlq" in again.output


# ----------------------------------------------------------------------------- known bugs


@pytest.mark.parametrize("window", ["0", "100000", "0s", "25h"])
def test_metrics_refuses_an_out_of_range_window(
    window: str, shared: Session, digest: Digest
) -> None:
    before = digest(shared)
    entry = perform(shared, f"metrics queue_depth window={window}")
    assert entry.kind == "refused"
    assert entry.output == f"window must be between 1s and 24h, got {window}"
    assert digest(shared) == before


def test_a_refused_api_scale_down_during_a_rollout_changes_nothing(
    poison: Incident, digest: Digest
) -> None:
    system = dict(poison.system)
    system["versions"] = {**system.get("versions", {}), "api": {"v3.42.0": {}}}
    s = Session(poison.model_copy(update={"system": system}), 1)
    assert perform(s, "deploy api v3.42.0 percent=50").kind == "act"
    s.advance(60)
    assert len(s.system.api_versions) == 2, "precondition: two versions serve traffic"
    before = digest(s)
    entry = perform(s, "scale api 1")
    assert entry.kind == "refused"
    assert digest(s) == before


def test_every_investigation_declares_the_evidence_kind_it_records() -> None:
    """The kinds incident files may name as key evidence come from this registry."""
    for c in COMMANDS.values():
        assert (c.evidence is not None) == (c.kind == "investigate"), c.name
    assert "config" not in evidence_kinds()  # `flags` shows the config, and records `flags`


def test_an_investigation_records_its_declared_kind_and_target(shared: Session) -> None:
    entry = perform(shared, "queue payments")
    assert entry.evidence == "queue:payments"


def test_a_command_line_past_64_kb_is_refused_and_recorded_by_a_prefix(
    paged: Session, digest: Digest
) -> None:
    """Every way in (scripts, the TUI, team clients) goes through perform: the cap is counted
    in UTF-8 bytes, and the record keeps a prefix that is refused the same way on replay."""
    before = digest(paged)
    refusal = "a command line holds at most 64 KB (65,536 bytes); this one is longer"
    wide = "update " + "\xe9" * 40_000  # 40,007 characters, 80,007 bytes
    assert (perform(paged, wide).kind, paged.entries[-1].output) == ("refused", refusal)
    assert paged.entries[-1].command == wide
    long = "update " + "\xe9" * 100_000
    entry = perform(paged, long)
    assert (entry.kind, entry.output) == ("refused", refusal)
    assert entry.command == long[:65_537]
    assert perform(paged, entry.command).output == refusal
    assert digest(paged) == before
    # at the cap exactly, the line is split and handled (refused here for what it says)
    exact = 'update "' + "x" * (65_536 - 9) + '"'
    assert len(exact.encode()) == 65_536
    assert "64 KB" not in perform(paged, exact).output


def test_a_members_powers_read_with_the_commands_behind_status_and_declare() -> None:
    assert powers_text(["act", "declare", "investigate", "note", "say", "status"]) == (
        "act, declare (diagnose, resolve), investigate, note, say, status (answer, escalate, update)"
    )
    assert powers_text(["investigate", "say"]) == "investigate, say"
    assert powers_text([]) == "watch only"
