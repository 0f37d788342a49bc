"""Validate loaded YAML as a pydantic v2 model, mapping each error onto its place in the file.

Pydantic reports an error at a `loc` (a key path); this module finds that path's line and
column in the positions `yamlload` recorded (a missing key points at its parent mapping),
words the message for an author, and suggests the closest key for a misspelt one.
"""

from __future__ import annotations

import collections
import collections.abc
import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from oncall_dojo.incident.yamlload import (
    Loc,
    Located,
    Positions,
    YamlModelError,
    format_keypath,
    load_yaml,
    sorted_unique,
)

__all__ = ["convert_error", "load_model", "validate_model"]

_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")

M = TypeVar("M", bound=BaseModel)


# --------------------------------------------------------------------------------------------
# Model validation
# --------------------------------------------------------------------------------------------


def load_model(
    path: str | Path,
    model: type[M],
    text: str | None = None,
    context: dict[str, Any] | None = None,
) -> tuple[M, Positions]:
    """Load a YAML file and validate it as ``model``; every error becomes a :class:`Located`."""
    data, positions = load_yaml(path, text)
    return validate_model(path, model, data, positions, context), positions


def validate_model(
    path: str | Path,
    model: type[M],
    data: Any,
    positions: Positions,
    context: dict[str, Any] | None = None,
) -> M:
    """Validate already loaded data as ``model``; every error becomes a :class:`Located`."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        spath = str(path)
        errors = [
            convert_error(spath, positions, model, err, data)
            for err in exc.errors(include_url=False)
        ]
        raise YamlModelError(sorted_unique(errors)) from None


def _suggest(word: str, candidates: collections.abc.Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _data_at(data: Any, loc: Loc) -> Any:
    for item in loc:
        try:
            data = data[item]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def convert_error(
    path: str, positions: Positions, model: type[BaseModel], err: Any, data: Any
) -> Located:
    """One pydantic error (as from `ValidationError.errors()`) as a located error.

    `model` is the model whose fields the error's `loc` walks (for did-you-mean suggestions)
    and `data` the document as written (to know which keys are present)."""
    loc: Loc = tuple(err["loc"])
    kind: str = err["type"]
    msg: str = err["msg"]
    ctx: dict[str, Any] = err.get("ctx") or {}

    if kind == "missing" and loc:
        name = loc[-1]
        r = positions.resolve(loc[:-1])
        what = f"key {name!r}" if isinstance(name, str) else f"item [{name}]"
        return Located(path, r.line, r.col, format_keypath(r.loc), f"missing required {what}")

    if kind == "extra_forbidden" and loc and isinstance(loc[-1], str):
        name = loc[-1]
        r = positions.resolve(loc)
        parent = r.loc[:-1] if r.found_last else r.loc
        present = _data_at(data, parent)
        taken = set(present) if isinstance(present, dict) else set()
        fields = [f for f in _field_names(model, loc[:-1]) if f not in taken]
        message = f"unknown key {name!r}{_suggest(name, fields)}"
        return Located(path, r.key_line, r.key_col, format_keypath(parent), message)

    if kind in ("union_tag_invalid", "union_tag_not_found"):
        disc = str(ctx.get("discriminator", ""))
        key = disc[1:-1] if len(disc) > 1 and disc[0] == disc[-1] == "'" else None
        if key is not None and kind == "union_tag_not_found":
            r = positions.resolve(loc)
            return Located(
                path, r.line, r.col, format_keypath(r.loc), f"missing required key {key!r}"
            )
        if key is not None:
            r = positions.resolve((*loc, key))
            tag = str(ctx.get("tag", ""))
            expected = _QUOTED.findall(str(ctx.get("expected_tags", "")))
            message = (
                f"unknown {key} {tag!r}{_suggest(tag, expected)};"
                f" expected one of: {', '.join(repr(t) for t in expected)}"
            )
            return Located(path, r.line, r.col, format_keypath(r.loc), message)

    if kind == "value_error" and msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    elif kind == "assertion_error" and msg.startswith("Assertion failed, "):
        msg = msg[len("Assertion failed, ") :]
    r = positions.resolve(loc)
    return Located(path, r.line, r.col, format_keypath(r.loc), msg)


# --- walking the model's type annotations to find the fields allowed at a loc ----------------

_SEQ_ORIGINS = {
    list,
    set,
    frozenset,
    collections.deque,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Set,
    collections.abc.MutableSet,
    collections.abc.Iterable,
    collections.abc.Collection,
}
_MAP_ORIGINS = {
    dict,
    collections.OrderedDict,
    collections.defaultdict,
    collections.abc.Mapping,
    collections.abc.MutableMapping,
}


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _expand(types_: list[Any]) -> list[Any]:
    """Strip Annotated / Optional and flatten unions."""
    out: list[Any] = []
    stack = list(reversed(types_))
    while stack:
        tp = stack.pop()
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            stack.append(typing.get_args(tp)[0])
        elif origin is typing.Union or origin is types.UnionType:
            stack.extend(reversed(typing.get_args(tp)))
        elif tp is not type(None):
            out.append(tp)
    return out


def _model_keys(model: type[BaseModel]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
        keys[alias or name] = field.annotation
    return keys


def _matches_tag(model: type[BaseModel], item: str) -> bool:
    if item == model.__name__:
        return True
    for field in model.model_fields.values():
        for tp in _expand([field.annotation]):
            if typing.get_origin(tp) is typing.Literal and item in typing.get_args(tp):
                return True
    return False


def _step(tp: Any, item: str | int) -> list[Any]:
    if _is_model(tp):
        if isinstance(item, str):
            keys = _model_keys(tp)
            if item in keys:
                return [keys[item]]
            fields = tp.model_fields
            if item in fields:
                return [fields[item].annotation]
        return []
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if isinstance(item, int):
        if origin is tuple and args:
            if len(args) == 2 and args[1] is Ellipsis:
                return [args[0]]
            return [args[item]] if -len(args) <= item < len(args) else []
        if origin in _SEQ_ORIGINS and args:
            return [args[0]]
    elif origin in _MAP_ORIGINS and len(args) == 2:
        return [args[1]]
    return []


def _field_names(model: type[BaseModel], loc: Loc) -> list[str]:
    """Keys accepted by the model(s) that validate the mapping at ``loc`` (best effort)."""
    current: list[Any] = [model]
    try:
        for item in loc:
            expanded = _expand(current)
            if isinstance(item, str):
                models = [t for t in expanded if _is_model(t)]
                tagged = [t for t in models if _matches_tag(t, item)]
                if tagged and not any(item in _model_keys(t) for t in models):
                    current = tagged  # a discriminator tag or union member name
                    continue
            stepped = [nxt for tp in expanded for nxt in _step(tp, item)]
            if stepped:
                current = stepped
            # otherwise: a validator name such as 'function-after[...]'; stay where we are
        names: dict[str, None] = {}
        for tp in _expand(current):
            if _is_model(tp):
                names.update(dict.fromkeys(_model_keys(tp)))
        return list(names)
    except Exception:  # pragma: no cover - suggestions are a nicety, never a crash
        return []
