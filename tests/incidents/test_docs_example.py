"""The worked example of docs/authoring.md is a valid incident that proves itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from oncall_dojo.game.check import check_incident
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.loader import check_seeds

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = ["docs/examples/cache-stampede.yaml", "incidents/database-disk-filling.yaml"]
"""The guide's worked examples: the first a file of its own, the second a bundled incident
that uses a topology element, resources and operations."""


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_worked_example_validates_for_every_choice_and_proves_itself(example: str) -> None:
    incident = load_checked(ROOT / example)
    assert check_seeds(incident)
    report = check_incident(incident, (2,))
    assert report.ok, [p for s in report.seeds for p in s.problems]


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_guide_shows_the_example_as_it_is(example: str) -> None:
    """Every line of the example's YAML quoted in the guide is in the file."""
    guide = (DOCS / "authoring.md").read_text(encoding="utf-8")
    lines = (ROOT / example).read_text(encoding="utf-8").splitlines()
    quoted = []
    for block in guide.split("```yaml\n")[1:]:
        body = block.split("```", 1)[0]
        if f"# from {example}" in body:
            quoted += [x for x in body.splitlines() if x.strip() and not x.startswith("# from")]
    assert quoted, "the guide quotes no part of the example"
    missing = [x for x in quoted if x not in lines and x.strip() != "..."]
    assert not missing, missing


def test_the_second_worked_example_uses_topology_resources_and_an_operation() -> None:
    incident = load_checked(ROOT / EXAMPLES[1])
    cfg = incident.for_seed(1).system_config()
    assert cfg.clusters and cfg.sites and cfg.links
    assert any(r.failover is not None for r in incident.resources.values())
    assert any(op.replica is not None for op in incident.operations.values())


def _anchor(heading: str) -> str:
    """The anchor a Markdown renderer gives a heading (GitHub's rule)."""
    import re

    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_each_guides_contents_list_every_section_in_order() -> None:
    """A section added without its contents line is found (the hosts, automation, operations,
    injects, sizing and retry sections were once missing from the guide's list)."""
    for name in ("authoring.md", "reference.md"):
        text = (DOCS / name).read_text(encoding="utf-8").splitlines()
        heads = [line[3:] for line in text if line.startswith("## ")]
        first = next(i for i, line in enumerate(text) if line.startswith("- ["))
        toc = []
        for line in text[first:]:
            if not line.lstrip().startswith("- ["):
                break
            if line.startswith("- ["):  # a top-level entry; nested ones name subsections
                toc.append(line)
        listed = [line.split("](#", 1)[1].rstrip(")") for line in toc]
        assert listed == [_anchor(h) for h in heads], name


def test_the_guide_lists_every_shared_runbook_by_name() -> None:
    """An author who reuses a shared runbook's name replaces it: the guide names them all."""
    shared = sorted(p.stem for p in (ROOT / "oncall_dojo" / "incident" / "runbooks").glob("*.md"))
    guide = " ".join((DOCS / "authoring.md").read_text(encoding="utf-8").split())
    listed = guide.split("The shared runbooks are ", 1)[1].split(";", 1)[0]
    assert [n.strip(" `,") for n in listed.replace(" and ", ", ").split(", ")] == shared
