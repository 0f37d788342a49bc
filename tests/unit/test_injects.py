"""Injects: the `injects:` section of an incident file, firing them, their effects, their score,
and a recorded game with injects replaying exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from oncall_dojo.game import injects
from oncall_dojo.game.play import finish, perform, run_script, wait
from oncall_dojo.game.session import Session
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.packs import find
from oncall_dojo.incident.yamlload import YamlModelError
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.store import Recorder, Store
from oncall_dojo.store.replay import compare_results, rebuild

PATH = find("payments-stuck")
TEXT = Path(PATH).read_text()


def _with_injects(block: str) -> str:
    head, _, tail = TEXT.partition("injects:\n")
    _, _, rest = tail.partition("playthroughs:\n")
    return head + "injects:\n" + block + "playthroughs:\n" + rest


def _errors(block: str) -> list[str]:
    with pytest.raises(YamlModelError) as info:
        load_incident(PATH, text=_with_injects(block))
    return [str(e) for e in info.value.errors]


@pytest.fixture
def incident() -> Incident:
    return load_incident(PATH, seed=1)


def test_the_bundled_example_has_every_kind_of_inject(incident: Incident) -> None:
    kinds = {i.kind for i in incident.injects}
    assert kinds == {"fault", "stakeholder", "unavailable"}
    assert [i.times() for i in incident.injects if i.at is not None] == [[480]]


def test_an_inject_fault_with_its_own_time_is_a_located_error() -> None:
    errs = _errors("  - id: slow\n    fault: {kind: dependency_slowdown, at: 30, latency_x: 2}\n")
    assert len(errs) == 1 and "injects[0]" in errs[0] and "leave out its `at` and `when`" in errs[0]
    line = TEXT.partition("injects:\n")[0].count("\n") + 2
    assert f"payments-stuck.yaml:{line}:" in errs[0]


def test_an_inject_names_exactly_one_thing() -> None:
    errs = _errors(
        "  - id: both\n    stakeholder: {from: CFO, text: hello there}\n    unavailable: {for_s: 60}\n"
    )
    assert any("exactly one of `fault`, `stakeholder` or `unavailable`" in e for e in errs)


def test_a_bad_field_inside_an_inject_fault_points_at_it() -> None:
    errs = _errors("  - id: slow\n    fault: {kind: dependency_slowdown, error_rate: 7}\n")
    assert any("injects[0].fault" in e and "error_rate" in e for e in errs), errs


def test_an_inject_fault_naming_a_missing_queue_is_refused() -> None:
    errs = _errors("  - id: poison2\n    fault: {kind: poison_message, queue: nowhere}\n")
    assert any("injects[0].fault.queue" in e and "no queue 'nowhere'" in e for e in errs), errs


def test_schedules_and_duplicate_ids_are_checked() -> None:
    errs = _errors("  - id: a\n    every: 120\n    stakeholder: {from: CFO, text: hello there}\n")
    assert any("`every` and `count` schedule an inject that has an `at`" in e for e in errs)
    errs = _errors(
        "  - id: a\n    stakeholder: {from: CFO, text: hello there}\n"
        "  - id: a\n    at: '1:00'\n    stakeholder: {from: CFO, text: hello again}\n"
    )
    assert any("inject ids must be unique: a" in e for e in errs)
    errs = _errors("  - id: b\n    at: soon\n    stakeholder: {from: CFO, text: hello there}\n")
    assert any("expected a time as `MM:SS` or seconds" in e for e in errs)


def test_a_scheduled_inject_fires_at_its_time_and_repeats(incident: Incident) -> None:
    inc = incident.model_copy(
        update={
            "injects": [
                injects.Inject.model_validate(
                    {"id": "cfo", "at": "2:00", "every": 120, "count": 3,
                     "stakeholder": {"from": "CFO", "text": "Any news on charges?"}}
                )
            ]
        }
    )  # fmt: skip
    s = Session(inc, 1)
    injects.schedule(s)
    seen: list[tuple[int, str]] = []
    s.listeners.append(
        lambda e: seen.append((e["at"], e["key"])) if e["type"] == "inject" else None
    )
    for _ in wait(s, 400):
        pass
    assert seen == [(120, "cfo"), (240, "cfo-2"), (360, "cfo-3")]
    assert [a.at for a in s.asks] == [120, 240, 360]


def test_answers_are_scored_like_status_updates(incident: Incident) -> None:
    ask = next(i for i in incident.injects if i.kind == "stakeholder")

    def comms(answer_at: int | None) -> tuple[float, str]:
        s = Session(incident, 1)
        injects.fire(s, ask)
        if answer_at is not None:
            for _ in wait(s, answer_at):
                pass
            assert (
                perform(
                    s, 'answer "Charges are delayed; we expect them to resume within 30 minutes"'
                ).kind
                == "act"
            )
        item = next(i for i in finish(s).items if i.key == "comms")
        return item.points, item.detail

    none, detail = comms(None)
    assert none == 0.0 and "0 of 1 stakeholder message answered in time" in detail
    soon, detail = comms(60)
    assert soon == 2.5 and "1 of 1 stakeholder message answered in time" in detail
    late, detail = comms(ask.stakeholder.answer_within_s + 60)  # type: ignore[union-attr]
    assert late == 1.2 and "1 late" in detail  # 1.25, shown to one decimal


def test_answer_is_refused_without_a_message_or_a_sentence(incident: Incident) -> None:
    s = Session(incident, 1)
    assert perform(s, "answer we are on it now").kind == "refused"
    injects.fire(s, incident.injects[0])
    e = perform(s, "answer soon")
    assert e.kind == "refused" and "needs a sentence" in e.output
    assert s.asks[0].answers == []


def test_an_unavailable_player_cannot_act_until_back(incident: Incident) -> None:
    s = Session(incident, 1)
    perform(s, "ack", "dana")
    perform(s, "queues", "lee")
    away = next(i for i in incident.injects if i.kind == "unavailable")
    rec = injects.fire(s, away)
    assert rec["away"] == "lee"  # whoever ran the last command
    e = perform(s, "restart billing", "lee")
    assert e.kind == "refused" and "lee is unavailable until 05:00" in e.output
    assert perform(s, "queues", "dana").kind == "investigate"
    for _ in wait(s, 300):
        pass
    assert perform(s, "queues", "lee").kind == "investigate"


def test_a_fault_inject_begins_a_fault_in_the_model(incident: Incident) -> None:
    s = Session(incident, 1)
    before = len(s.fault_runs)
    injects.fire(s, injects.library_fault("dependency_slowdown", {"latency_x": "5"}))
    for _ in wait(s, 5):
        pass
    assert len(s.fault_runs) == before + 1 and s.fault_runs[-1].started is not None
    assert s.system.provider_latency_x == 5.0


def test_the_facilitator_lines(incident: Incident) -> None:
    s = Session(incident, 1)
    assert injects.parse_inject(s, "inject customer-post").id == "customer-post"
    f = injects.parse_inject(s, "inject fault traffic_spike factor=3 duration_s=300")
    assert f.fault is not None and f.fault.kind == "traffic_spike"
    a = injects.parse_inject(s, 'inject ask "VP Sales" "Is checkout down?"')
    assert a.stakeholder is not None and a.stakeholder.sender == "VP Sales"
    w = injects.parse_inject(s, "inject away lee 120")
    assert w.unavailable is not None and (w.unavailable.player, w.unavailable.for_s) == ("lee", 120)
    for bad, why in [
        ("inject nothing-here", "no inject 'nothing-here'"),
        ("inject fault meteor", "no fault kind 'meteor'"),
        ("inject fault traffic_spike factor=lots", "factor"),
        ("inject fault traffic_spike at=5", "leave out `at` and `when`"),
        ("inject away lee 5", "SECONDS is a number"),
        ('inject ask "CFO', "cannot read the line"),
    ]:
        with pytest.raises(Refusal) as info:
            injects.parse_inject(s, bad)
        assert why in info.value.reason, bad


def test_injects_are_refused_once_the_incident_is_over(incident: Incident) -> None:
    s = Session(incident, 1)
    perform(s, "resolve")
    with pytest.raises(Refusal):
        injects.fire(s, incident.injects[0])


def _team_game(incident: Incident, store: Store | None) -> tuple[Session, str | None]:
    """Scheduled injects plus one of each kind fired by hand, several players."""
    s = Session(incident, 3)
    injects.schedule(s)
    log = Recorder(store, "host", "team") if store is not None else None
    if log is not None:
        log.started(s, 0)
    script = [
        (20, "dana", "ack"), (40, "lee", "queue payments"), (60, "dana", "logs billing level=warn"),
        (90, "lee", "dlq move payments top"), (100, "dana", "restart billing"),
    ]  # fmt: skip
    for at, who, cmd in script:
        s.advance_to(at)
        perform(s, cmd, who)
    injects.fire(s, injects.parse_inject(s, "inject provider-slows"))
    injects.fire(s, injects.parse_inject(s, "inject away dana 300"))
    s.advance_to(200)
    assert perform(s, "diagnose poison-message", "dana").kind == "refused"
    perform(s, "diagnose poison-message", "lee")
    injects.fire(s, injects.parse_inject(s, "inject fault traffic_spike factor=2 duration_s=240"))
    s.advance_to(500)
    perform(s, 'answer "Charges are delayed; they will resume shortly, nothing is lost"', "lee")
    s.advance_to(700)
    perform(s, "resolve", "lee")
    finish(s)
    if log is not None:
        log.flush()
    return s, (log.session_id if log is not None else None)


def test_a_recorded_game_with_injects_replays_exactly(incident: Incident, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "dojo.db")
    try:
        played, sid = _team_game(incident, store)
        assert sid is not None and store.verify(sid) == []
        events = store.events(sid)
        assert [e.data["key"] for e in events if e.type == "inject"] == [
            "provider-slows", "away-2", "fault-3", "finance-asks-eta",
        ]  # fmt: skip
        assert events[0].data["injects"] is True
        rb = rebuild(incident, events)
        assert rb.mismatches == [] and rb.finished is not None
        replayed = finish(rb.session).to_json()
        assert compare_results(rb.finished["result"], replayed) == []
        assert replayed == played.result.to_json()  # type: ignore[union-attr]
        assert rb.session.injected == played.injected
        assert [a.answers for a in rb.session.asks] == [a.answers for a in played.asks]
    finally:
        store.close()
    again, _ = _team_game(incident, None)
    assert again.result.to_json() == played.result.to_json()  # type: ignore[union-attr]


def test_a_second_fault_changes_the_outcome(incident: Incident) -> None:
    """The injected fault acts through the model: the same play scores differently with it."""
    ref = list(incident.playthroughs.reference.actions)
    plain = Session(incident, 2)
    run_script(plain, ref)
    hit = Session(incident, 2)
    hit.advance_to(300)
    injects.fire(
        hit, injects.library_fault("dependency_slowdown", {"error_rate": "0.5", "cause": "true"})
    )
    run_script(hit, ref)
    assert plain.result is not None and hit.result is not None
    assert hit.result.resolved is False and plain.result.resolved is True
