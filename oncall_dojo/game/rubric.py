"""The interview rubric: a replaceable YAML file of lines, each marked 1 to 4 against
anchored descriptions (`rubrics/default.yaml` is bundled; a team may use its own).

A rubric file is validated like an incident file: every problem is reported as
`path:line:col: key.path: message`. Marks are checked against the rubric they were given
with (`check_mark`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from oncall_dojo.incident.yamlload import read_text
from oncall_dojo.incident.yamlmodel import load_model

MARKS = (1, 2, 3, 4)
MAX_LINES = 12
MAX_RUBRIC_BYTES = 256 * 1024
DEFAULT_PATH = Path(__file__).resolve().parent / "rubrics" / "default.yaml"
WORDS_MARKS = ("right", "partly", "wrong")
"""How an interviewer marks the candidate's diagnosis in their own words against the cause."""

Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,39}$")]
Words = Annotated[str, StringConstraints(min_length=1, max_length=600, strip_whitespace=True)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Line(_Model):
    id: Id
    """Short name used to mark the line (`dojo interview mark CANDIDATE ID 3`)."""
    title: Words
    question: Words | None = None
    """The question the line answers, shown beside the anchors."""
    anchors: Annotated[list[Words], Field(min_length=4, max_length=4)]
    """What a 1, 2, 3 and 4 look like, in that order: four descriptions."""

    def anchor(self, mark: int) -> str:
        return self.anchors[mark - 1]


class Rubric(_Model):
    name: Words
    version: int = Field(default=1, ge=1)
    lines: Annotated[list[Line], Field(min_length=1, max_length=MAX_LINES)]

    @field_validator("lines")
    @classmethod
    def _unique(cls, v: list[Line]) -> list[Line]:
        seen: set[str] = set()
        for line in v:
            if line.id in seen:
                raise ValueError(f"two lines have the id {line.id!r}")
            seen.add(line.id)
        return v

    def line(self, ident: str) -> Line:
        for ln in self.lines:
            if ln.id == ident:
                return ln
        raise KeyError(ident)


class LoadedRubric(BaseModel):
    """A rubric with where it came from and the SHA-256 of its file (kept with the marks)."""

    rubric: Rubric
    path: str
    sha256: str


def load(path: str | Path | None = None) -> LoadedRubric:
    """The rubric at `path` (the bundled default if None); YamlModelError with located
    errors if the file is not a valid rubric."""
    p = Path(path) if path is not None else DEFAULT_PATH
    text = read_text(p, MAX_RUBRIC_BYTES)
    rubric, _ = load_model(p, Rubric, text)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return LoadedRubric(rubric=rubric, path=str(p), sha256=digest)


class BadMark(ValueError):
    """A mark the rubric does not have; the text says what it has."""


def check_mark(rubric: Rubric, line: str, mark: str | int) -> tuple[str, int]:
    """(line id, mark) if the rubric has that line and the mark is 1 to 4, else BadMark."""
    ids = [ln.id for ln in rubric.lines]
    if line not in ids:
        raise BadMark(f"no rubric line {line!r}; the lines are {', '.join(ids)}")
    try:
        n = int(mark)
    except (TypeError, ValueError):
        raise BadMark(f"a mark is 1 to 4, not {mark!r}") from None
    if n not in MARKS:
        raise BadMark(f"a mark is 1 to 4, not {n}")
    return line, n


__all__ = [
    "DEFAULT_PATH",
    "MARKS",
    "WORDS_MARKS",
    "BadMark",
    "Line",
    "LoadedRubric",
    "Rubric",
    "check_mark",
    "load",
]
