"""`dojo check`'s rules on one seed: harmful < minimal < reference, and the grade bands."""

from __future__ import annotations

from oncall_dojo.game.check import problems_of
from oncall_dojo.game.result import GRADES, Result


def result(score: int, resolved: bool = True) -> Result:
    grade = next(g for lim, g in GRADES if score >= lim)
    times: dict[str, int | None] = {"mitigated": 60, "cause_removed": 60}
    return Result("x", 1, 1, score, grade, [], {}, times, [], resolved)


def test_a_library_grade_means_the_same_everywhere() -> None:
    assert problems_of(result(95), result(30), {"purge": result(50)}, result(75)) == []


def test_each_band_and_each_order_is_enforced() -> None:
    problems = problems_of(result(89), result(62), {"purge": result(70)}, result(69))
    assert "reference graded B (89); it must be graded A" in problems
    assert "idle graded D (62); it must be graded F" in problems
    assert "minimal graded D (69); it must be graded A or B or C" in problems
    assert "harmful 'purge' 70 does not score below minimal 69" in problems


def test_minimal_must_score_below_the_reference_and_exist() -> None:
    assert "minimal 95 does not score below reference 95" in problems_of(
        result(95), result(10), {}, result(95)
    )
    assert "no minimal playthrough (playthroughs.minimal)" in problems_of(
        result(95), result(10), {}, None
    )
