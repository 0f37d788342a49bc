"""Load a YAML file into any pydantic v2 model, reporting errors as ``path:line:col: key: msg``.

Every problem -- unreadable file, invalid UTF-8, YAML syntax error, duplicate or non-string key,
empty document, or pydantic validation error -- is raised as a single :class:`YamlModelError`
that carries a sorted list of :class:`Located` errors, one line each, and never a traceback.

This module is deliberately generic: it imports nothing else from ``oncall_dojo``. Mapping a
pydantic model's errors onto these positions lives beside it, in ``yamlmodel``.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel

try:  # libyaml is ~10x faster; the pure-Python loader gives identical node trees and marks.
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

__all__ = [
    "Located",
    "Positions",
    "Resolved",
    "YamlModelError",
    "bad_utf8",
    "format_keypath",
    "load_yaml",
    "located",
    "read_limited",
    "read_text",
]

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]

_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"

# Same character class PyYAML's reader rejects; checked up front so the position is exact
# (libyaml reports a byte offset, the pure-Python reader a character offset).
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_BARE_KEY = re.compile(r"[A-Za-z0-9_\-]+")


# --------------------------------------------------------------------------------------------
# Public result types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Located:
    """One error with its place in the source file."""

    path: str  # file path as given
    line: int  # 1-based
    col: int  # 1-based
    keypath: str  # e.g. "faults[2].params.rate"; "" for the document root
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.col}"
        if self.keypath:
            return f"{where}: {self.keypath}: {self.message}"
        return f"{where}: {self.message}"


class YamlModelError(Exception):
    """All the problems found in one file; ``str(exc)`` is one line per error."""

    errors: list[Located]

    def __init__(self, errors: list[Located]):
        super().__init__(errors)
        self.errors = list(errors)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def format_keypath(loc: Loc) -> str:
    """Render ``("faults", 2, "params", "rate")`` as ``faults[2].params.rate``."""
    out: list[str] = []
    for item in loc:
        if isinstance(item, int):
            out.append(f"[{item}]")
        elif _BARE_KEY.fullmatch(item):
            out.append(f".{item}" if out else item)
        else:
            out.append(f"[{json.dumps(item, ensure_ascii=False)}]")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Positions
# --------------------------------------------------------------------------------------------


class _PNode:
    """Position of one YAML node plus, for collections, the positions of its children."""

    __slots__ = ("col", "entries", "items", "line")

    def __init__(self, line: int, col: int) -> None:
        self.line = line
        self.col = col
        # mapping: key -> ((key_line, key_col), value node); sequence: list of item nodes
        self.entries: dict[str, tuple[tuple[int, int], _PNode]] | None = None
        self.items: list[_PNode] | None = None


@dataclass(frozen=True)
class Resolved:
    """Where a loc lands in the document (see :meth:`Positions.resolve`)."""

    loc: Loc  # only the items that are real keys / indexes of the document
    line: int
    col: int
    key_line: int  # position of the last real mapping key, or of the node if it is not one
    key_col: int
    found_last: bool  # the last item of the requested loc is a real key/index


class Positions:
    """Maps a location path (tuple of str keys / int indexes, as pydantic's ``loc``) to (line, col)."""

    __slots__ = ("_root",)

    def __init__(self, root: _PNode | None = None) -> None:
        self._root = root

    def at(self, loc: Loc) -> tuple[int, int]:
        """Position of the deepest existing node along ``loc``.

        Items that are not keys/indexes of the data at that point (discriminator tags, union
        member names) are skipped; for a missing key this is the position of its parent mapping.
        """
        r = self.resolve(loc)
        return r.line, r.col

    def key_at(self, loc: Loc) -> tuple[int, int]:
        """Like :meth:`at`, but for a mapping entry the position of the key instead of the value."""
        r = self.resolve(loc)
        return r.key_line, r.key_col

    def clean(self, loc: Loc) -> Loc:
        """``loc`` without the items that are not real keys/indexes of the document."""
        return self.resolve(loc).loc

    def with_renamed_keys(self, renames: dict[Loc, dict[str, str]]) -> Positions:
        """A copy in which mapping keys are renamed: ``renames[loc]`` maps old to new keys of the
        mapping at ``loc`` (locs spelled with the old keys). Untouched subtrees are shared."""
        if not renames or self._root is None:
            return self
        prefixes = {loc[:i] for loc in renames for i in range(len(loc) + 1)}

        def copy(node: _PNode, loc: Loc) -> _PNode:
            if loc not in prefixes:
                return node
            new = _PNode(node.line, node.col)
            if node.entries is not None:
                table = renames.get(loc, {})
                new.entries = {
                    table.get(k, k): (kpos, copy(child, (*loc, k)))
                    for k, (kpos, child) in node.entries.items()
                }
            if node.items is not None:
                new.items = [copy(child, (*loc, i)) for i, child in enumerate(node.items)]
            return new

        return Positions(copy(self._root, ()))

    def resolve(self, loc: Loc) -> Resolved:
        """Follow ``loc`` through the document, skipping items that are not real keys/indexes."""
        node = self._root
        if node is None:
            return Resolved((), 1, 1, 1, 1, False)
        kept: list[str | int] = []
        key_pos: tuple[int, int] | None = None
        at_key = False
        found = False
        for item in loc:
            if item == "[key]" and key_pos is not None:  # pydantic: error in a dict key
                at_key = True
                found = False
                continue
            child: _PNode | None = None
            new_key_pos: tuple[int, int] | None = None
            if isinstance(item, str):
                if node.entries is not None and item in node.entries:
                    new_key_pos, child = node.entries[item]
            elif node.items is not None and -len(node.items) <= item < len(node.items):
                item = item % len(node.items)
                child = node.items[item]
            found = child is not None
            if child is None:
                continue
            node, key_pos, at_key = child, new_key_pos, False
            kept.append(item)
        line, col = key_pos if at_key and key_pos else (node.line, node.col)
        kline, kcol = key_pos if key_pos is not None else (node.line, node.col)
        return Resolved(tuple(kept), line, col, kline, kcol, found)


def located(
    path: str | Path, positions: Positions, loc: Loc, message: str, *, at_key: bool = False
) -> Located:
    """Build a :class:`Located` for ``loc`` in a loaded document (for semantic checks).

    Loc items that do not exist in the document are dropped from the keypath; the position is
    that of the deepest existing node (of its key when ``at_key`` is true).
    """
    r = positions.resolve(loc)
    line, col = (r.key_line, r.key_col) if at_key else (r.line, r.col)
    return Located(str(path), line, col, format_keypath(r.loc), message)


# --------------------------------------------------------------------------------------------
# YAML loading
# --------------------------------------------------------------------------------------------


class _Loader(_BaseLoader):
    """Safe loader that memoises implicit-tag resolution (keys and values repeat a lot)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._tag_cache: dict[tuple[str, Any], str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and not self.yaml_path_resolvers:
            key = (value, implicit)
            tag = self._tag_cache.get(key)
            if tag is None:
                tag = self._tag_cache[key] = super().resolve(kind, value, implicit)
            return tag
        return super().resolve(kind, value, implicit)


def _type_word(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if hasattr(value, "isoformat"):
        return "a timestamp"
    return f"a {type(value).__name__}"


class _Expanded(Exception):
    """The document's aliases expand it past MAX_EXPANDED nodes."""

    def __init__(self, mark: Any) -> None:
        super().__init__(
            f"aliases expand the document past {MAX_EXPANDED:,} nodes; "
            "write the repeated parts out, or use fewer aliases"
        )
        self.line, self.col = mark.line + 1, mark.column + 1


class _Builder:
    """Turns a composed node tree into Python data (safe_load semantics) plus positions."""

    def __init__(self, path: str, loader: Any) -> None:
        self.path = path
        self.loader = loader
        self.ctors: dict[Any, Any] = loader.yaml_constructors
        self.errors: list[Located] = []
        self.done: dict[int, tuple[Any, _PNode]] = {}  # anchors/aliases share one node object
        self.active: set[int] = set()
        self.sizes: dict[int, int] = {}
        """Nodes under each built collection, aliases followed (what a consumer walks)."""
        self.expanded = 0

    def error(self, mark: Any, loc: list[str | int], message: str) -> None:
        self.errors.append(
            Located(self.path, mark.line + 1, mark.column + 1, format_keypath(tuple(loc)), message)
        )

    def build(self, node: yaml.Node, loc: list[str | int]) -> tuple[Any, _PNode]:
        self.expanded += 1
        if isinstance(node, yaml.ScalarNode):  # hot path, not memoised
            mark = node.start_mark
            return self.scalar(node, loc), _PNode(mark.line + 1, mark.column + 1)
        key = id(node)
        hit = self.done.get(key)
        if hit is not None:
            self.expanded += self.sizes[key]
            if self.expanded > MAX_EXPANDED:
                raise _Expanded(node.start_mark)
            return hit
        before = self.expanded
        mark = node.start_mark
        if key in self.active:
            self.error(mark, loc, "recursive alias is not supported")
            return None, _PNode(mark.line + 1, mark.column + 1)
        self.active.add(key)
        try:
            if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
                result = self.mapping(node, loc)
            elif isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
                result = self.sequence(node, loc)
            else:  # !!set, !!omap, !!pairs, unknown tags: let PyYAML decide (or complain)
                result = self.other(node, loc), _PNode(mark.line + 1, mark.column + 1)
        finally:
            self.active.discard(key)
        self.done[key] = result
        self.sizes[key] = self.expanded - before
        return result

    def scalar(self, node: yaml.ScalarNode, loc: list[str | int]) -> Any:
        tag = node.tag
        if tag == _STR_TAG:
            return node.value
        ctor = self.ctors.get(tag) or self.ctors[None]
        try:
            return ctor(self.loader, node)
        except yaml.MarkedYAMLError as exc:
            self.error(exc.problem_mark or node.start_mark, loc, _yaml_message(exc))
        except (ValueError, OverflowError) as exc:
            what = tag.rsplit(":", 1)[-1]
            self.error(node.start_mark, loc, f"invalid {what} {node.value!r}: {exc}")
        return None

    def other(self, node: yaml.Node, loc: list[str | int]) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            self.error(exc.problem_mark or node.start_mark, loc, _yaml_message(exc))
        except (ValueError, OverflowError, TypeError) as exc:
            self.error(node.start_mark, loc, str(exc))
        return None

    def mapping(self, node: yaml.MappingNode, loc: list[str | int]) -> tuple[Any, _PNode]:
        mark = node.start_mark
        pnode = _PNode(mark.line + 1, mark.column + 1)
        own: dict[str, Any] = {}
        entries: dict[str, tuple[tuple[int, int], _PNode]] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            kmark = key_node.start_mark
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(kmark, loc, "mapping keys must be strings, not a sequence or mapping")
                continue
            key = self.scalar(key_node, loc)
            if not isinstance(key, str):
                if key is not None or key_node.tag == _NULL_TAG:
                    self.error(
                        kmark,
                        loc,
                        f"key {key_node.value!r} is read as {_type_word(key)}, not a string;"
                        f' quote it: "{key_node.value}"',
                    )
                continue
            if key in entries:
                (first_line, _), _unused = entries[key]
                self.error(
                    kmark, loc, f"duplicate key {key!r} (first defined on line {first_line})"
                )
                continue
            value, child = self.build(value_node, [*loc, key])
            own[key] = value
            entries[key] = ((kmark.line + 1, kmark.column + 1), child)
        if not merges:
            pnode.entries = entries
            return own, pnode
        # YAML merge keys ("<<: *base"), with safe_load semantics: explicit keys win over merged
        # ones, and among merged mappings the earlier one wins.
        merged: dict[str, Any] = {}
        merged_entries: dict[str, tuple[tuple[int, int], _PNode]] = {}
        for value_node in merges:
            sources = (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    self.error(
                        source.start_mark,
                        loc,
                        "'<<' (merge) expects a mapping or a list of mappings",
                    )
                    continue
                data, spnode = self.build(source, loc)
                if not isinstance(data, dict) or spnode.entries is None:
                    continue
                for k, v in data.items():
                    if k not in merged:
                        merged[k] = v
                        merged_entries[k] = spnode.entries[k]
        for k, v in own.items():
            merged[k] = v
            merged_entries[k] = entries[k]
        pnode.entries = merged_entries
        return merged, pnode

    def sequence(self, node: yaml.SequenceNode, loc: list[str | int]) -> tuple[Any, _PNode]:
        mark = node.start_mark
        pnode = _PNode(mark.line + 1, mark.column + 1)
        data: list[Any] = []
        items: list[_PNode] = []
        for index, item_node in enumerate(node.value):
            value, child = self.build(item_node, [*loc, index])
            data.append(value)
            items.append(child)
        pnode.items = items
        return data, pnode


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or "invalid YAML"
    context = exc.context
    if problem == "but found another document":
        return (
            "YAML syntax error: a file must contain a single YAML document (found a second '---')"
        )
    if isinstance(exc, yaml.constructor.ConstructorError):
        return problem if context is None else f"{context}: {problem}"
    msg = f"YAML syntax error: {problem}"
    if context:
        cmark = exc.context_mark
        if cmark is not None and (cmark.line, cmark.column) != (
            getattr(exc.problem_mark, "line", None),
            getattr(exc.problem_mark, "column", None),
        ):
            msg += f" ({context} started at line {cmark.line + 1}, column {cmark.column + 1})"
        else:
            msg += f" ({context})"
    if problem.startswith("mapping values are not allowed"):
        msg += "; a ': ' inside an unquoted value starts a mapping: put the value in quotes"
    return msg


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


MAX_FILE_BYTES = 1_000_000
"""Largest file `read_text` reads (an incident file is about 10 KB)."""
MAX_NODES = 50_000
"""Most YAML nodes a document may hold, counted before parsing (an upper bound from the text)."""
MAX_EXPANDED = 100_000
"""Most nodes a document may expand to once its aliases are followed ("billion laughs")."""


def bad_utf8(raw: bytes, exc: UnicodeDecodeError) -> tuple[int, int, str]:
    """Where `raw` stops being UTF-8, for a located error: (line, column in bytes, message)."""
    line = raw.count(b"\n", 0, exc.start) + 1
    col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
    byte = raw[exc.start] if exc.start < len(raw) else 0
    return line, col, f"not valid UTF-8 (byte 0x{byte:02x} at offset {exc.start}, line {line})"


def read_limited(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; ValueError in words otherwise.

    Devices (`/dev/zero`), FIFOs and folders are refused without reading, so nothing blocks
    and nothing is read without bound; OSError is raised when the file cannot be opened.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            what = "a folder" if stat.S_ISDIR(st.st_mode) else "a device, pipe or socket"
            raise ValueError(f"not a regular file ({what})")
        if st.st_size > limit:
            raise ValueError(f"file is {st.st_size:,} bytes; the limit is {limit:,}")
        chunks = []
        size = 0
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ValueError(f"file is over the limit of {limit:,} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: str | Path, limit: int = MAX_FILE_BYTES) -> str:
    """A file's text, or a :class:`YamlModelError` saying why it cannot be read."""
    spath = str(path)
    try:
        raw = read_limited(path, limit)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise YamlModelError([Located(spath, 1, 1, "", f"cannot read file: {reason}")]) from None
    except ValueError as exc:
        raise YamlModelError([Located(spath, 1, 1, "", f"cannot read file: {exc}")]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        msg = (
            f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start},"
            f" line {line})"
        )
        raise YamlModelError([Located(spath, 1, 1, "", msg)]) from None


def _node_bound(text: str) -> int:
    """An upper bound on the nodes of a YAML text, from characters that can start one."""
    return 2 * (text.count("\n") + 1) + sum(text.count(c) for c in ",[{")


def load_yaml(path: str | Path, text: str | None = None) -> tuple[Any, Positions]:
    """Parse a YAML file (or ``text``, with ``path`` used only for messages).

    Returns the data (as ``yaml.safe_load`` would build it) and its :class:`Positions`.
    Raises :class:`YamlModelError` for an unreadable file, invalid UTF-8, a syntax error,
    duplicate or non-string keys, or an empty document.
    """
    spath = str(path)
    if text is None:
        text = read_text(path)

    bad = _NON_PRINTABLE.search(text)
    if bad is not None:
        line, col = _line_col(text, bad.start())
        msg = f"YAML syntax error: control character {bad.group()!r} is not allowed"
        raise YamlModelError([Located(spath, line, col, "", msg)])

    if len(text) > MAX_FILE_BYTES:
        msg = f"document is {len(text):,} characters; the limit is {MAX_FILE_BYTES:,}"
        raise YamlModelError([Located(spath, 1, 1, "", msg)])
    if _node_bound(text) > MAX_NODES:
        msg = f"document has too many lines and items (the limit is about {MAX_NODES // 2:,} lines)"
        raise YamlModelError([Located(spath, 1, 1, "", msg)])

    loader = _Loader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            raise YamlModelError([Located(spath, line, col, "", _yaml_message(exc))]) from None
        except yaml.YAMLError as exc:
            raise YamlModelError([Located(spath, 1, 1, "", f"YAML error: {exc}")]) from None
        if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL_TAG):
            raise YamlModelError([Located(spath, 1, 1, "", "document is empty")])
        builder = _Builder(spath, loader)
        try:
            data, proot = builder.build(root, [])
        except _Expanded as exc:
            raise YamlModelError([Located(spath, exc.line, exc.col, "", str(exc))]) from None
        except RecursionError:
            raise YamlModelError(
                [Located(spath, 1, 1, "", "document is nested too deeply")]
            ) from None
    finally:
        loader.dispose()
    if builder.errors:
        raise YamlModelError(sorted_unique(builder.errors))
    return data, Positions(proot)


def sorted_unique(errors: list[Located]) -> list[Located]:
    unique = list(dict.fromkeys(errors))
    unique.sort(key=lambda e: (e.line, e.col))
    return unique
