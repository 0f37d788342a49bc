"""Tests for the generic YAML -> pydantic loader with line:col error reporting."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from oncall_dojo.incident import yamlload, yamlmodel
from oncall_dojo.incident.yamlload import (
    Located,
    Positions,
    YamlModelError,
    format_keypath,
    load_yaml,
    located,
)
from oncall_dojo.incident.yamlmodel import load_model

# --------------------------------------------------------------------------------------------
# A toy schema: nested model, a list of a discriminated union on `kind`, extra='forbid'.
# --------------------------------------------------------------------------------------------


class Owner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team: str
    pager: str


class LatencyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delay_ms: int
    jitter_ms: int = 0


class PoisonParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int
    queue: str

    @field_validator("count")
    @classmethod
    def _positive(cls, value: int, info: ValidationInfo) -> int:
        limit = (info.context or {}).get("max_count", 1_000)
        if not 0 < value <= limit:
            raise ValueError(f"count must be between 1 and {limit}")
        return value


class LatencyItem(BaseModel):
    kind: Literal["latency"]
    name: str
    params: LatencyParams


class PoisonItem(BaseModel):
    kind: Literal["poison_message"]
    name: str
    params: PoisonParams


Item = Annotated[LatencyItem | PoisonItem, Field(discriminator="kind")]


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    owner: Owner
    items: list[Item]
    starts_on: date | None = None


VALID = """\
title: Checkout is slow
owner:
  team: payments
  pager: "#payments-oncall"
starts_on: 2024-05-01
items:
  - kind: latency
    name: db-slow
    params:
      delay_ms: 250
  - kind: poison_message
    name: bad-order
    params:
      count: 3
      queue: orders
"""


class PureSafeLoader(yaml.SafeLoader):
    """The pure-Python loader, to check it reports the same positions as libyaml."""


@pytest.fixture(params=["libyaml", "pure"])
def either_loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "pure":
        monkeypatch.setattr(yamlload, "_Loader", PureSafeLoader)
    elif not yaml.__with_libyaml__:
        pytest.skip("PyYAML built without libyaml")
    yield request.param


def errors_of(text: str, model: type[BaseModel] = Scenario, **kwargs: Any) -> list[str]:
    with pytest.raises(YamlModelError) as info:
        load_model("f.yaml", model, text=textwrap.dedent(text), **kwargs)
    return [str(e) for e in info.value.errors]


def replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


# --------------------------------------------------------------------------------------------
# Happy path
# --------------------------------------------------------------------------------------------


def test_valid_file_loads_model_and_positions(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(VALID, encoding="utf-8")
    scenario, positions = load_model(path, Scenario)

    assert scenario.title == "Checkout is slow"
    assert scenario.owner.pager == "#payments-oncall"
    assert scenario.starts_on == date(2024, 5, 1)
    assert isinstance(scenario.items[0], LatencyItem)
    assert isinstance(scenario.items[1], PoisonItem)
    assert scenario.items[1].params.count == 3

    assert positions.at(()) == (1, 1)
    assert positions.at(("owner",)) == (3, 3)  # a block mapping starts at its first key
    assert positions.at(("items", 1, "params", "count")) == (14, 14)
    assert positions.key_at(("items", 1, "params", "count")) == (14, 7)
    # union tags are not document keys: skipped
    assert positions.at(("items", 1, "poison_message", "params", "queue")) == (15, 14)
    # a missing key: the parent mapping
    assert positions.at(("items", 0, "params", "jitter_ms")) == (10, 7)

    err = located(path, positions, ("items", 1, "poison_message", "name"), "name is taken")
    assert str(err) == f"{path}:12:11: items[1].name: name is taken"
    assert str(located(path, positions, (), "no pages")) == f"{path}:1:1: no pages"


def test_load_yaml_matches_safe_load_semantics() -> None:
    text = textwrap.dedent(
        """\
        base: &base {x: 1, y: 2}
        child:
          <<: *base
          y: 3
        values: [1, 2.5, true, null, 2024-01-02, 0x1f, ~, 'quoted', yes]
        """
    )
    data, positions = load_yaml("f.yaml", text)
    assert data == yaml.safe_load(text)
    assert data["child"] == {"x": 1, "y": 3}
    assert positions.at(("child", "x")) == (1, 17)  # merged value: where it was written
    assert positions.at(("child", "y")) == (4, 6)


def test_context_is_passed_to_validators() -> None:
    text = replace(VALID, "count: 3", "count: 30")
    assert errors_of(text, context={"max_count": 10}) == [
        "f.yaml:14:14: items[1].params.count: count must be between 1 and 10"
    ]
    scenario, _ = load_model("f.yaml", Scenario, text=text)
    assert isinstance(scenario.items[1], PoisonItem)


# --------------------------------------------------------------------------------------------
# YAML-level errors
# --------------------------------------------------------------------------------------------


def test_syntax_error_unclosed_bracket(either_loader: str) -> None:
    errors = errors_of(
        """\
        title: x
        tags: [a, b
        owner: {}
        """
    )
    assert len(errors) == 1
    assert errors[0].startswith("f.yaml:3:6: YAML syntax error: ")
    assert "while parsing a flow sequence started at line 2, column 7" in errors[0]


def test_syntax_error_bad_indentation(either_loader: str) -> None:
    errors = errors_of(
        """\
        title: x
        owner:
          team: a
         pager: b
        """
    )
    assert len(errors) == 1
    assert errors[0].startswith("f.yaml:4:2: YAML syntax error: ")
    assert "while parsing a block mapping started at line 1, column 1" in errors[0]


def test_syntax_error_tab_and_mapping_value(either_loader: str) -> None:
    assert errors_of("title: x\nowner:\n\tteam: a\n")[0].startswith("f.yaml:3:1: YAML syntax")
    assert errors_of("title: a: b\n")[0].startswith("f.yaml:1:9: YAML syntax error: mapping")


def test_control_character_position(either_loader: str) -> None:
    assert errors_of("title: café\nowner: a\x07b\n") == [
        "f.yaml:2:9: YAML syntax error: control character '\\x07' is not allowed"
    ]


def test_multiple_documents() -> None:
    assert errors_of("title: a\n---\ntitle: b\n") == [
        "f.yaml:2:1: YAML syntax error: a file must contain a single YAML document"
        " (found a second '---')"
    ]


def test_duplicate_key(either_loader: str) -> None:
    text = replace(VALID, "      queue: orders\n", "      queue: orders\n      count: 4\n")
    assert errors_of(text) == [
        "f.yaml:16:7: items[1].params: duplicate key 'count' (first defined on line 14)"
    ]


def test_duplicate_top_level_key_and_non_string_keys() -> None:
    errors = errors_of(
        """\
        title: a
        owner: {team: t, pager: p, 404: x, on: y}
        title: b
        items: []
        """
    )
    assert errors == [
        "f.yaml:2:28: owner: key '404' is read as an integer, not a string; quote it: \"404\"",
        "f.yaml:2:36: owner: key 'on' is read as a boolean, not a string; quote it: \"on\"",
        "f.yaml:3:1: duplicate key 'title' (first defined on line 1)",
    ]


def test_bad_scalar_and_unknown_tag() -> None:
    errors = errors_of("title: !secret x\nstarts_on: 2024-13-01\n")
    assert errors == [
        "f.yaml:1:8: title: could not determine a constructor for the tag '!secret'",
        "f.yaml:2:12: starts_on: invalid timestamp '2024-13-01': month must be in 1..12",
    ]


def test_recursive_alias_is_an_error_not_a_hang() -> None:
    assert errors_of("title: &a [*a]\n") == [
        "f.yaml:1:8: title[0]: recursive alias is not supported"
    ]


@pytest.mark.parametrize("text", ["", "\n\n", "# just a comment\n", "---\n", "null\n"])
def test_empty_document(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(YamlModelError) as info:
        load_model(path, Scenario)
    assert str(info.value) == f"{path}:1:1: document is empty"


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("title: ok\nowner: café\n".encode("latin-1"))
    with pytest.raises(YamlModelError) as info:
        load_model(path, Scenario)
    assert str(info.value) == (
        f"{path}:1:1: file is not valid UTF-8 (byte 0xe9 at offset 20, line 2)"
    )


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(YamlModelError) as info:
        load_yaml(path)
    assert str(info.value) == f"{path}:1:1: cannot read file: No such file or directory"


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + VALID.encode())
    scenario, _ = load_model(path, Scenario)
    assert scenario.title == "Checkout is slow"


# --------------------------------------------------------------------------------------------
# Validation errors
# --------------------------------------------------------------------------------------------


def test_missing_required_key_points_at_parent_mapping() -> None:
    assert errors_of(replace(VALID, '  pager: "#payments-oncall"\n', "")) == [
        "f.yaml:3:3: owner: missing required key 'pager'"
    ]
    assert errors_of(replace(VALID, "      queue: orders\n", "")) == [
        "f.yaml:14:7: items[1].params: missing required key 'queue'"
    ]
    assert errors_of(replace(VALID, "title: Checkout is slow\n", "")) == [
        "f.yaml:1:1: missing required key 'title'"
    ]


def test_unknown_key_points_at_key_with_suggestion() -> None:
    text = replace(VALID, "      delay_ms: 250\n", "      delay_ms: 250\n      jiter_ms: 5\n")
    assert errors_of(text) == [
        "f.yaml:11:7: items[0].params: unknown key 'jiter_ms' (did you mean 'jitter_ms'?)"
    ]
    # fields already present are not suggested; nothing close means no suggestion
    text = replace(VALID, "  team: payments\n", "  team: payments\n  teams: x\n  colour: red\n")
    assert errors_of(text) == [
        "f.yaml:4:3: owner: unknown key 'teams'",
        "f.yaml:5:3: owner: unknown key 'colour'",
    ]
    assert errors_of(replace(VALID, "starts_on:", "start_on:")) == [
        "f.yaml:5:1: unknown key 'start_on' (did you mean 'starts_on'?)"
    ]


def test_wrong_type_deep_in_discriminated_union() -> None:
    text = replace(VALID, "count: 3", "count: lots")
    assert errors_of(text) == [
        "f.yaml:14:14: items[1].params.count:"
        " Input should be a valid integer, unable to parse string as an integer"
    ]


def test_unknown_discriminator_value() -> None:
    text = replace(VALID, "kind: poison_message", "kind: poison_msg")
    assert errors_of(text) == [
        "f.yaml:11:11: items[1].kind: unknown kind 'poison_msg' (did you mean"
        " 'poison_message'?); expected one of: 'latency', 'poison_message'"
    ]
    text = replace(VALID, "  - kind: poison_message\n    name", "  - name")
    assert errors_of(text) == ["f.yaml:11:5: items[1]: missing required key 'kind'"]


def test_wrong_container_types() -> None:
    assert errors_of("title: x\nowner: nobody\nitems: {}\n") == [
        "f.yaml:2:8: owner: Input should be a valid dictionary or instance of Owner",
        "f.yaml:3:8: items: Input should be a valid list",
    ]
    assert errors_of("- a\n- b\n") == [
        "f.yaml:1:1: Input should be a valid dictionary or instance of Scenario"
    ]


def test_several_errors_all_reported_sorted_and_unique() -> None:
    text = textwrap.dedent(
        """\
        title: [not, a, string]
        owner:
          team: payments
          pagr: x
        items:
          - kind: poison_message
            name: bad-order
            params: {count: -1, queue: orders, extra: 1}
          - kind: latency
            name: 7
            params:
              delay_ms: soon
          - kind: nope
        """
    )
    with pytest.raises(YamlModelError) as info:
        load_model("f.yaml", Scenario, text=text)
    expected = [
        "f.yaml:1:8: title: Input should be a valid string",
        "f.yaml:3:3: owner: missing required key 'pager'",
        "f.yaml:4:3: owner: unknown key 'pagr' (did you mean 'pager'?)",
        "f.yaml:8:21: items[0].params.count: count must be between 1 and 1000",
        "f.yaml:8:40: items[0].params: unknown key 'extra'",
        "f.yaml:10:11: items[1].name: Input should be a valid string",
        "f.yaml:12:17: items[1].params.delay_ms:"
        " Input should be a valid integer, unable to parse string as an integer",
        "f.yaml:13:11: items[2].kind: unknown kind 'nope';"
        " expected one of: 'latency', 'poison_message'",
    ]
    assert [str(e) for e in info.value.errors] == expected
    assert str(info.value) == "\n".join(expected)
    assert info.value.errors == sorted(info.value.errors, key=lambda e: (e.line, e.col))


def test_plain_union_member_names_are_dropped_and_deduplicated() -> None:
    class A(BaseModel):
        x: int

    class B(BaseModel):
        x: int
        y: int = 0

    class Holder(BaseModel):
        thing: A | B

    assert errors_of("thing:\n  x: nope\n", Holder) == [
        "f.yaml:2:6: thing.x: Input should be a valid integer, unable to parse string as an integer"
    ]
    assert errors_of("thing: {y: 1}\n", Holder) == ["f.yaml:1:8: thing: missing required key 'x'"]


def test_dict_key_errors_point_at_the_key() -> None:
    class Limits(BaseModel):
        per_service: dict[str, int]
        by_code: dict[int, str] = {}

    errors = errors_of(
        """\
        per_service:
          api: 5
          "worker pool": many
        by_code: {"500": fine, boom: bad}
        """,
        Limits,
    )
    assert errors == [
        'f.yaml:3:18: per_service["worker pool"]:'
        " Input should be a valid integer, unable to parse string as an integer",
        "f.yaml:4:24: by_code.boom:"
        " Input should be a valid integer, unable to parse string as an integer",
    ]


# --------------------------------------------------------------------------------------------
# Small pieces and performance
# --------------------------------------------------------------------------------------------


def test_located_and_error_rendering() -> None:
    err = Located("a.yaml", 3, 5, "faults[2].params.rate", "must be below 1")
    assert str(err) == "a.yaml:3:5: faults[2].params.rate: must be below 1"
    assert str(Located("a.yaml", 1, 1, "", "document is empty")) == "a.yaml:1:1: document is empty"
    exc = YamlModelError([err, err])
    assert exc.errors == [err, err]
    assert str(exc) == f"{err}\n{err}"
    assert format_keypath(("faults", 2, "params", "rate")) == "faults[2].params.rate"
    assert format_keypath((0, "a b")) == '[0]["a b"]'
    assert Positions().at(("anything",)) == (1, 1)


def test_two_thousand_lines_load() -> None:
    text = "title: big\nowner: {team: a, pager: b}\nitems:\n" + "".join(
        f"  - kind: poison_message\n    name: item-{i}\n    params:\n      count: {i + 1}\n"
        "      queue: orders\n"
        for i in range(400)
    )
    assert text.count("\n") >= 2000
    scenario, _ = load_model("big.yaml", Scenario, text=text)
    assert len(scenario.items) == 400


# --------------------------------------------------------------------------------------------
# Renamed keys and validating loaded data (used by `vary`)
# --------------------------------------------------------------------------------------------


def test_renamed_keys_keep_their_positions_and_the_original_is_untouched() -> None:
    _, positions = load_yaml("f.yaml", VALID)
    renamed = positions.with_renamed_keys({("owner",): {"team": "squad"}, (): {"items": "steps"}})
    assert renamed.at(("owner", "squad")) == positions.at(("owner", "team")) == (3, 9)
    assert renamed.key_at(("steps", 1, "params", "count")) == (14, 7)
    assert renamed.clean(("owner", "team")) == ("owner",)  # the old name is gone
    assert positions.at(("items", 1, "params", "count")) == (14, 14)
    assert positions.with_renamed_keys({}) is positions


def test_validate_model_locates_errors_in_data_already_loaded() -> None:
    data, positions = load_yaml("f.yaml", replace(VALID, "delay_ms: 250", "delay_ms: soon"))
    with pytest.raises(YamlModelError) as info:
        yamlmodel.validate_model("f.yaml", Scenario, data, positions)
    [err] = info.value.errors
    assert (err.line, err.col, err.keypath) == (10, 17, "items[0].params.delay_ms")


def test_read_text_reports_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(YamlModelError) as info:
        yamlload.read_text(tmp_path / "missing.yaml")
    assert "cannot read file" in str(info.value)
