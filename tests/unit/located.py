"""Validation cases that break one thing in a valid fixture incident and expect one error, at
its place in the file (`path:line:col: key.path: message`)."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.yamlload import YamlModelError


class Case(NamedTuple):
    old: str
    new: str
    line: int
    col: int
    keypath: str
    message: str


def case_id(c: Case) -> str:
    return f"{c.keypath}:{c.line}"


def assert_located(base: str, c: Case, name: str) -> None:
    """`base` (the text of the valid file `name`) with `c.old` replaced by `c.new` is refused
    with exactly one error, at `c`'s line, column and key path, whose message starts with
    `c.message`."""
    assert base.count(c.old) == 1, c.old
    text = base.replace(c.old, c.new)
    with pytest.raises(YamlModelError) as info:
        load_incident(name, text=text, expect_id=name.removesuffix(".yaml"))
    errors = info.value.errors
    assert len(errors) == 1, str(info.value)
    err = errors[0]
    assert (err.line, err.col, err.keypath) == (c.line, c.col, c.keypath), str(info.value)
    assert err.message.startswith(c.message), err.message
