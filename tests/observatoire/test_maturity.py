"""The maturity questionnaire, its scoring and its recommendations (pure: no store)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from territoires.ngsild.errors import BadRequestData
from territoires.observatoire import indicators, maturity
from territoires.observatoire.vocabularies import DOMAINS

AXES = maturity.axis_ids()


def test_questionnaire_has_ten_axes_of_five_levels_and_three_to_five_questions() -> None:
    q = maturity.questionnaire()
    assert AXES == tuple(f"A{n}" for n in range(1, 11))
    assert [name.fr for name in q.level_names] == [
        "Découverte", "Expérimentation", "Structuration", "Intégration", "Exemplarité"]
    for axis in q.axes:
        assert [level.level for level in axis.levels] == [1, 2, 3, 4, 5]
        assert not axis.levels[0].criteria and all(level.criteria for level in axis.levels[1:])
        assert 3 <= len(axis.questions) <= 5
        asked = {question.criterion for question in axis.questions}
        assert asked == {c.id for level in axis.levels for c in level.criteria}  # every criterion is asked
        assert all(any(o.meets for o in qn.options) and not all(o.meets for o in qn.options) for qn in axis.questions)
        assert axis.name.fr and axis.name.en and all(level.description.en for level in axis.levels)
        assert set(axis.domains) <= set(DOMAINS.terms)
        assert any(indicators.for_domain(domain) for domain in axis.domains) or not axis.domains
    assert q.axis("A2").name.fr == "Organisation, compétences, culture"


def test_nothing_met_is_level_one_and_everything_met_is_level_five() -> None:
    none = maturity.answers_meeting({})
    assert maturity.levels(none) == dict.fromkeys(AXES, 1)
    assert maturity.levels({}) == dict.fromkeys(AXES, 1)  # unanswered meets nothing
    everything = maturity.answers_meeting(dict.fromkeys(AXES, 5))
    assert maturity.levels(everything) == dict.fromkeys(AXES, 5)


def test_an_axis_is_at_the_highest_level_whose_criteria_and_those_below_are_met() -> None:
    answers = maturity.answers_meeting({"A1": 2})
    assert maturity.levels(answers)["A1"] == 2
    # Level 3 of A1 has two criteria: meeting one is not enough.
    answers["A1-Q2"] = "yes"
    assert maturity.levels(answers)["A1"] == 2
    answers["A1-Q3"] = "yes"
    assert maturity.levels(answers)["A1"] == 3
    # A choice question: only the option meeting the criterion counts.
    answers["A1-Q4"] = "occasionally"
    assert maturity.levels(answers)["A1"] == 3
    answers["A1-Q4"] = "yearly"
    assert maturity.levels(answers)["A1"] == 4
    # A ladder: level 5's criterion without level 2's leaves the axis at level 1.
    ladder = maturity.answers_meeting({})
    ladder["A1-Q5"] = "yes"
    assert maturity.levels(ladder)["A1"] == 1


@given(st.dictionaries(st.sampled_from(AXES), st.integers(min_value=1, max_value=5)))
def test_answers_meeting_gives_the_levels_asked(wanted: dict[str, int]) -> None:
    answers = maturity.answers_meeting(wanted)
    assert maturity.levels(answers) == {axis: wanted.get(axis, 1) for axis in AXES}
    assert maturity.check_answers(answers) == answers


def test_bad_answers_name_the_question() -> None:
    complete = maturity.answers_meeting({})
    with pytest.raises(BadRequestData, match=r"^answers\.A1-Q4: 'maybe' is not one of its options "
                                             r"\(never, occasionally, yearly\)$"):
        maturity.check_answers({**complete, "A1-Q4": "maybe"})
    with pytest.raises(BadRequestData, match=r"^answers\.A2-Q1: True is not one of its options"):
        maturity.check_answers({**complete, "A2-Q1": True})
    with pytest.raises(BadRequestData, match=r"^answers: unknown question\(s\) A11-Q1; the questionnaire is at"):
        maturity.check_answers({**complete, "A11-Q1": "yes"})
    partial = {k: v for k, v in complete.items() if k not in ("A3-Q2", "A7-Q5")}
    with pytest.raises(BadRequestData, match=r"^answers: question\(s\) A3-Q2, A7-Q5 unanswered"):
        maturity.check_answers(partial)
    with pytest.raises(BadRequestData, match="a JSON object of question id"):
        maturity.check_answers(["A1-Q1"])
    assert maturity.answer_errors({**partial, "A1-Q1": "perhaps"}) == {
        "A1-Q1": maturity.INVALID, "A3-Q2": maturity.MISSING, "A7-Q5": maturity.MISSING}


def test_recommendations_are_the_next_level_unmet_criteria_by_gap_then_quick_wins() -> None:
    wanted = {"A1": 5, "A2": 2, "A3": 2, "A4": 3, "A5": 2}
    answers = maturity.answers_meeting(wanted)
    answers["A3-Q2"] = "yes"  # one of the two criteria of A3's level 3: a quick win
    reached = maturity.levels(answers)
    steps = maturity.recommendations(reached, answers)
    assert "A1" not in [s.axis.id for s in steps]  # at the top: nothing to recommend
    by_axis = {s.axis.id: s for s in steps}
    assert [c.id for c in by_axis["A3"].unmet] == ["A3-L3b"]
    assert [c.id for c in by_axis["A2"].unmet] == ["A2-L3a", "A2-L3b"]
    assert by_axis["A4"].level == 4 and [c.id for c in by_axis["A4"].unmet] == ["A4-L4a", "A4-L4b"]
    # Without peers every gap is 0: quick wins (fewer unmet criteria) first, then axis order.
    assert [s.axis.id for s in steps] == ["A3", "A6", "A7", "A8", "A9", "A10", "A2", "A4", "A5"]
    assert all(s.gap == 0 for s in steps)
    # With peers: the axis lagging most behind the peers' median first; ahead of peers comes last.
    steps = maturity.recommendations(reached, answers, {"A2": 4.5, "A4": 3.5, "A5": 1, "A6": None})
    assert [s.axis.id for s in steps][:3] == ["A2", "A4", "A3"]
    assert steps[0].gap == 2.5 and steps[-1].axis.id == "A5" and steps[-1].gap == -1


def test_median_level_of_a_distribution() -> None:
    assert maturity.median_level({1: 3, 2: 1, 5: 1}) == 1
    assert maturity.median_level({2: 1, 3: 1}) == 2.5
    assert maturity.median_level({}) is None


def test_questionnaire_as_json_for_the_api() -> None:
    shown = maturity.questionnaire().as_json()
    assert [level["name"]["fr"] for level in shown["levels"]][0] == "Découverte"
    first = shown["axes"][0]["questions"][0]
    assert first["id"] == "A1-Q1" and first["criterion"] == "A1-L2"
    assert [o["code"] for o in first["options"]] == ["yes", "no", "unknown"]
