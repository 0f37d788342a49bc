"""Variation by seed: `vary:` picks, `${name}` substitution, located errors, determinism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oncall_dojo.cli import main
from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked, playthrough_errors
from oncall_dojo.incident.loader import check_seeds, load_incident
from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.packs import bundled_dir
from oncall_dojo.incident.vary import Variable, covering_seeds, pick, pick_all, substitute
from oncall_dojo.incident.yamlload import YamlModelError

EXISTING = [
    "payments-stuck",
    "orders-not-shipping",
    "order-totals-wrong",
    "api-errors-db-cpu",
    "api-timeouts-db-idle",
]
SMALL = textwrap.dedent(
    """\
    id: tiny
    vary:
      at: {range: [120, 600]}
      who: {choices: [mailer, fulfillment]}
      flag: {choices: [true, false]}
      share: {choices: [0.25, 0.5]}
    plain: "${at}"
    typed_bool: ${flag}
    typed_float: ${share}
    text: "the ${who} deploy at ${at}s, flag ${flag}"
    escaped: "$${HOME} stays, ${who} goes"
    nested:
      - {service: "${who}", note: "x"}
    keys:
      ${who}: {version: v1}
      ${who}-canary: 1
    """
)


def load_text(tmp_path: Path, name: str, text: str, seed: int = 1) -> Incident:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return load_incident(path, extra_checks=playthrough_errors, expect_id=name, seed=seed)


@pytest.fixture(scope="module")
def original_poison() -> str:
    """The payments-stuck file with its `vary` section and every `${...}` taken out."""
    text = (bundled_dir() / "payments-stuck.yaml").read_text(encoding="utf-8")
    start = text.index("\nvary:\n")
    end = text.index("\nsystem:\n")
    text = text[:start] + text[end:]
    text = text.replace("aliases: [poison-payments]\n", "", 1)  # copies are new incidents
    for var, value in (("fault_at", "150"), ("deploy_at", "60"), ("fix", "v2.8.4")):
        text = text.replace("${" + var + "}", value)
    assert "${" not in text
    return text


# ------------------------------------------------------------------------------- substitution


def test_a_whole_reference_keeps_its_type_and_text_gets_the_value_as_text() -> None:
    import yaml

    data = yaml.safe_load(SMALL)
    vary = {k: Variable.model_validate(v) for k, v in data["vary"].items()}
    values = {"at": 300, "who": "fulfillment", "flag": True, "share": 0.5}
    assert set(values) == set(vary)
    out, renames, problems = substitute(data, values)
    assert problems == []
    assert out["plain"] == 300 and isinstance(out["plain"], int)
    assert out["typed_bool"] is True
    assert out["typed_float"] == 0.5
    assert out["text"] == "the fulfillment deploy at 300s, flag true"
    assert out["escaped"] == "${HOME} stays, fulfillment goes"
    assert out["nested"] == [{"service": "fulfillment", "note": "x"}]
    assert out["keys"] == {"fulfillment": {"version": "v1"}, "fulfillment-canary": 1}
    assert renames == {("keys",): {"${who}": "fulfillment", "${who}-canary": "fulfillment-canary"}}
    assert out["vary"] == data["vary"]  # the declarations themselves are left alone


def test_a_yaml_int_written_as_a_reference_validates_as_an_int(tmp_path: Path) -> None:
    inc = load_checked(bundled_dir() / "payments-stuck.yaml")
    assert isinstance(inc.faults[1].at, int)
    assert inc.faults[1].at == inc.picked["fault_at"]
    assert f"deploy billing {inc.picked['fix']}" in " ".join(inc.playthroughs.reference.actions)
    assert inc.picked["fix"] in inc.system["versions"]["billing"]


def test_an_unknown_variable_is_a_located_error_with_a_suggestion(
    tmp_path: Path, original_poison: str
) -> None:
    text = original_poison.replace(
        "duration_s: 3600\n", "duration_s: 3600\nvary:\n  fault_at: {range: [120, 300]}\n", 1
    ).replace("    at: 150\n", "    at: ${fault_atx}\n", 1)
    path = tmp_path / "tiny.yaml"
    path.write_text(text.replace("id: payments-stuck", "id: tiny"), encoding="utf-8")
    line = text.splitlines().index("    at: ${fault_atx}") + 1
    with pytest.raises(YamlModelError) as info:
        load_checked(path)
    [err] = info.value.errors
    assert (err.line, err.col, err.keypath) == (line, 9, "faults[1].at")
    assert "unknown variable `${fault_atx}` (did you mean `${fault_at}`?)" in err.message
    assert str(err).startswith(f"{path}:{line}:9: faults[1].at: unknown variable")
    # and `dojo validate` prints exactly that line
    assert main(["validate", str(path)]) == 1


def test_a_reference_without_vary_says_to_declare_it(tmp_path: Path, original_poison: str) -> None:
    text = original_poison.replace("id: payments-stuck", "id: tiny").replace(
        'note: "bump email templates for spring sale"', 'note: "bump ${what}"'
    )
    with pytest.raises(YamlModelError) as info:
        load_text(tmp_path, "tiny", text)
    [err] = info.value.errors
    assert err.keypath == "faults[0].note"
    assert "unknown variable `${what}`; declare it under `vary:`" in err.message


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ('    note: "bump ${what"\n', "`${what` has no closing `}`"),
        ('    note: "bump ${not a name}"\n', "`not a name` is not an expression"),
    ],
)
def test_malformed_references_are_located(
    tmp_path: Path, original_poison: str, snippet: str, message: str
) -> None:
    text = original_poison.replace("id: payments-stuck", "id: tiny").replace(
        '    note: "bump email templates for spring sale"\n', snippet
    )
    with pytest.raises(YamlModelError) as info:
        load_text(tmp_path, "tiny", text)
    assert [e.keypath for e in info.value.errors] == ["faults[0].note"]
    assert message in info.value.errors[0].message


# ------------------------------------------------------------------------------- arithmetic


def test_a_reference_may_compute_over_the_values_and_format_a_time() -> None:
    data = {
        "system": {"start": "2026-05-01T22:59:30Z"},
        "at": "${first + 43}",
        "half": "${(first + gap) / 2}",
        "minutes": "${(first + gap) // 60}",
        "rounded": "${first / 7 | int}",
        "note": "second fault at ${first + gap | mmss} (${first + gap | clock}), ${-first | mmss}",
        "stamp": "${first + 3600 * 2 | iso}",
        "offset": "${first - -gap % 40}",
    }
    out, _, problems = substitute(data, {"first": 300, "gap": 45})
    assert problems == []
    assert out["at"] == 343 and isinstance(out["at"], int)  # a whole expression keeps its type
    assert out["half"] == 172.5
    assert out["minutes"] == 5 and isinstance(out["minutes"], int)
    assert out["rounded"] == 43
    assert out["note"] == "second fault at 05:45 (23:05:15), -05:00"  # the clock from `start`
    assert out["stamp"] == "2026-05-02T01:04:30Z"
    assert out["offset"] == 300 - (-45 % 40)


def test_clock_times_count_from_the_default_start_when_the_file_sets_none() -> None:
    from oncall_dojo.sim.config import SystemConfig

    assert SystemConfig().start == "2026-03-14T03:00:00Z"
    out, _, problems = substitute(
        {"t": "${at + 3723 | clock}", "h": "${at + 3723 | mmss}"}, {"at": 0}
    )
    assert problems == [] and out == {"t": "04:02:03", "h": "1:02:03"}


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("${at ** 2}", "`${at ** 2}`: `**` is not allowed; use + - * / // % and parentheses"),
        ("${who + 1}", "`${who + 1}`: `who` is 'mailer', not a number"),
        ("${at + atx}", "unknown variable `${atx}` (did you mean `${at}`?)"),
        ("${at / (at - at)}", "division by zero"),
        ("${at | hms}", "unknown format `hms`; formats: mmss, clock, iso, int"),
        ("${at + }", "`at +` is not an expression"),
        ("${open('/etc/passwd')}", "`open('/etc/passwd')` is not allowed"),
        ("${at.real}", "`at.real` is not allowed"),
        ("${'a' + 'b'}", "only numbers can be computed with, not 'a'"),
        ("${True + at}", "only numbers can be computed with, not True"),
        ("${at * 1000000000000}", "is out of range"),
        ("${" + "1+" * 100 + "1}", "an expression is at most 200 characters"),
    ],
)
def test_a_bad_expression_is_refused_with_what_is_wrong(ref: str, message: str) -> None:
    out, _, problems = substitute({"x": {"y": ref}}, {"at": 300, "who": "mailer"})
    assert out == {"x": {"y": ref}}  # left as written
    [(loc, text, at_key)] = problems
    assert loc == ("x", "y") and not at_key
    assert message in text


def test_a_fault_timed_after_another_by_arithmetic_plays_at_that_tick(
    tmp_path: Path, original_poison: str
) -> None:
    text = (
        original_poison.replace("id: payments-stuck", "id: tiny")
        .replace(
            "duration_s: 3600\n", "duration_s: 3600\nvary:\n  deploy_at: {range: [30, 110]}\n", 1
        )
        .replace("    at: 60\n", "    at: ${deploy_at}\n", 1)
        .replace("    at: 150\n", "    at: ${deploy_at + 43}\n", 1)
        .replace(
            'note: "bump email templates for spring sale"',
            'note: "bump templates; ${deploy_at + 43 | clock} is when it breaks"',
        )
    )
    for seed in (1, 2, 3):
        inc = load_text(tmp_path, "tiny", text, seed=seed)
        deploy, poison = inc.faults[0], inc.faults[1]
        assert poison.at == deploy.at + 43 == inc.picked["deploy_at"] + 43
        start = datetime(2026, 3, 14, 3, tzinfo=UTC) + timedelta(seconds=poison.at)
        assert deploy.note == f"bump templates; {start:%H:%M:%S} is when it breaks"
        session = Session(inc, seed=seed)
        assert session.page_tick > poison.at  # the page follows the computed fault


def test_a_bad_vary_declaration_is_located(tmp_path: Path, original_poison: str) -> None:
    text = original_poison.replace("id: payments-stuck", "id: tiny").replace(
        "duration_s: 3600\n",
        "duration_s: 3600\nvary:\n  a: {range: [600, 120]}\n  b: {choices: []}\n  c: {}\n",
        1,
    )
    with pytest.raises(YamlModelError) as info:
        load_text(tmp_path, "tiny", text)
    by_key = {e.keypath: e.message for e in info.value.errors}
    assert "low must not be above high" in by_key["vary.a"]
    assert "at least 1" in by_key["vary.b.choices"]
    assert "exactly one of" in by_key["vary.c"]


def test_the_id_cannot_vary(tmp_path: Path, original_poison: str) -> None:
    text = original_poison.replace("id: payments-stuck", "id: tiny-${x}").replace(
        "duration_s: 3600\n", "duration_s: 3600\nvary:\n  x: {choices: [a]}\n", 1
    )
    with pytest.raises(YamlModelError) as info:
        load_text(tmp_path, "tiny", text)
    assert any(e.keypath == "id" and "cannot" in e.message for e in info.value.errors)


def test_a_renamed_key_keeps_its_position_for_errors(tmp_path: Path, original_poison: str) -> None:
    """An error inside a mapping whose key was substituted still points into the file."""
    text = original_poison.replace("id: payments-stuck", "id: tiny").replace(
        "duration_s: 3600\n", "duration_s: 3600\nvary:\n  q: {choices: [payments]}\n", 1
    )
    text = text.replace(
        "    payments:\n      visibility_timeout_s: 30\n",
        "    ${q}:\n      visibility_timeout_s: soon\n",
    )
    line = text.splitlines().index("      visibility_timeout_s: soon") + 1
    with pytest.raises(YamlModelError) as info:
        load_text(tmp_path, "tiny", text)
    [err] = info.value.errors
    assert (err.line, err.keypath) == (line, "system.queues.payments.visibility_timeout_s")
    assert "(with seed 1: q=payments)" in err.message


def test_validate_finds_a_choice_that_only_some_seeds_pick(
    tmp_path: Path, original_poison: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = original_poison.replace("id: payments-stuck", "id: tiny").replace(
        "duration_s: 3600\n",
        "duration_s: 3600\nvary:\n  q: {choices: [payments, paymnts, payments, payments]}\n",
        1,
    )
    text = text.replace("  - kind: poison_message\n    at: 150\n    queue: payments\n",
                        "  - kind: poison_message\n    at: 150\n    queue: ${q}\n")  # fmt: skip
    path = tmp_path / "tiny.yaml"
    path.write_text(text, encoding="utf-8")
    inc = load_checked(path)  # seed 1 happens to be fine...
    bad = next(s for s in range(1, 100) if pick(s, "tiny", "q", inc.vary["q"]) == "paymnts")
    assert inc.picked["q"] == "payments"
    assert bad in covering_seeds("tiny", inc.vary)
    with pytest.raises(YamlModelError) as info:
        check_seeds(inc)  # ...but validation tries every choice
    [err] = info.value.errors
    assert err.keypath == "faults[1].queue"
    assert "no queue 'paymnts'" in err.message and "q=paymnts" in err.message
    assert main(["validate", str(path)]) == 1
    assert "no queue 'paymnts'" in capsys.readouterr().err


# ------------------------------------------------------------------------------- picking


def test_picks_are_pinned() -> None:
    """The algorithm is part of the file format: changing it changes every incident's play."""
    rng = Variable(range=(120, 600))
    two = Variable(choices=["mailer", "fulfillment"])
    assert [pick(s, "poison-payments", "fault_at", rng) for s in (1, 2, 3)] == [562, 125, 292]
    assert [pick(s, "x", "distractor", two) for s in range(1, 9)] == [
        "fulfillment", "fulfillment", "mailer", "mailer",
        "fulfillment", "fulfillment", "mailer", "fulfillment",
    ]  # fmt: skip


def test_picks_are_the_same_in_any_process_and_hash_seed() -> None:
    code = textwrap.dedent(
        """
        import json
        from oncall_dojo.incident.vary import Variable, pick_all
        vary = {"a": Variable(range=(0, 10**9)), "b": Variable(choices=["x", "y", "z", 1, True])}
        print(json.dumps([pick_all(s, inc, vary) for inc in ("p", "q") for s in range(1, 20)]))
        """
    )
    vary = {"a": Variable(range=(0, 10**9)), "b": Variable(choices=["x", "y", "z", 1, True])}
    here = [pick_all(s, inc, vary) for inc in ("p", "q") for s in range(1, 20)]
    for hashseed in ("0", "4242", "random"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, env=env, check=True, timeout=60
        ).stdout
        assert json.loads(out) == here


def test_picks_depend_on_seed_incident_and_name_only() -> None:
    var = Variable(range=(0, 10**6))
    assert pick(7, "a", "x", var) == pick(7, "a", "x", var)
    assert len({pick(7, inc, "x", var) for inc in "abcdefgh"}) > 1
    assert len({pick(7, "a", name, var) for name in "abcdefgh"}) > 1
    # adding a variable does not change the others
    one = pick_all(3, "a", {"x": var})
    two = pick_all(3, "a", {"w": var, "x": var, "y": Variable(choices=[1, 2])})
    assert one["x"] == two["x"]


def test_ranges_include_both_ends_and_choices_are_all_reachable() -> None:
    small = Variable(range=(1, 3))
    assert {pick(s, "i", "n", small) for s in range(1, 200)} == {1, 2, 3}
    choices = Variable(choices=["a", 2, 2.5, False])
    seen = {repr(pick(s, "i", "c", choices)) for s in range(1, 200)}
    assert seen == {"'a'", "2", "2.5", "False"}
    seeds = covering_seeds("i", {"c": choices})
    assert {repr(pick(s, "i", "c", choices)) for s in seeds} == seen


# ------------------------------------------------------------------------------- playing


@pytest.mark.parametrize("ident", EXISTING)
def test_different_seeds_give_different_specifics(ident: str) -> None:
    inc = load_checked(bundled_dir() / f"{ident}.yaml")
    assert inc.vary, f"{ident} does not vary"
    variants = [inc.for_seed(s) for s in range(1, 7)]
    starts = {tuple(f.at for f in v.faults) for v in variants}
    assert len(starts) > 1, "the fault timeline is the same for every seed"
    names = [n for n, var in inc.vary.items() if var.choices is not None]
    assert names, f"{ident} varies no name"
    for name in names:
        picked = {v.picked[name] for v in variants}
        assert len(picked) > 1 or len(inc.vary[name].choices or []) == 1, name
    dumps = {v.model_dump_json() for v in variants}
    assert len(dumps) == len(variants)


def test_for_seed_is_cached_and_round_trips() -> None:
    inc = load_checked(bundled_dir() / "payments-stuck.yaml")
    seven = inc.for_seed(7)
    assert seven is inc.for_seed(7)
    assert seven.for_seed(7) is seven
    assert seven.for_seed(1) == inc
    assert seven.picked == pick_all(7, inc.seed_key, inc.vary)  # keyed by the first alias


def test_a_session_plays_the_seed_s_variant() -> None:
    inc = load_checked(bundled_dir() / "payments-stuck.yaml")
    seed = next(
        s for s in range(2, 50) if inc.for_seed(s).picked["fault_at"] != inc.picked["fault_at"]
    )
    s = Session(inc, seed)
    assert s.incident.picked == inc.for_seed(seed).picked
    poison = s.fault_runs[1]
    assert poison.started == s.incident.picked["fault_at"]


def test_an_incident_without_vary_is_its_own_variant(tmp_path: Path, original_poison: str) -> None:
    inc = load_text(tmp_path, "payments-stuck", original_poison)
    assert inc.vary == {} and inc.picked == {}
    assert inc.for_seed(9) is inc
    assert Session(inc, 9).incident is inc
