"""The maturity self-diagnostic (issue 4, item 6): its questionnaire, the level it gives each
axis and the recommendations that follow. Pure: the only I/O is reading the packaged
``data/maturity.json`` once.

Ten axes (A1…A10), five levels each (1 Découverte … 5 Exemplarité). Each level above the first
states one or more criteria; each criterion is asked by one question (yes/no, or a choice of
which some options meet it). Level 1 is the floor: it has no criterion.

An axis is at the highest level whose criteria are all met *together with those of every
level below it*: the levels are a ladder, so a territory that answers yes to a level-4 question
but has not met level 3 is at level 2 on that axis, and its next step is level 3. A question
left unanswered meets nothing. There is no overall score and no ranking (facts: maturity.md).

Answers travel as ``{question id: option code}``, e.g. ``{"A1-Q1": "yes", "A6-Q2": "2+"}``.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson

from territoires.ngsild.errors import BadRequestData, InternalError

LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)
TOP = LEVELS[-1]
_DATA_FORMAT = 1

# What an answer is, question by question (``answer_errors``).
MISSING = "missing"
INVALID = "invalid"


@dataclass(frozen=True)
class Text:
    """A text in French, with its English translation."""

    fr: str
    en: str

    def __call__(self, lang: str = "fr") -> str:
        return self.en if lang == "en" else self.fr

    def as_json(self) -> dict[str, str]:
        return {"fr": self.fr, "en": self.en}


@dataclass(frozen=True)
class Option:
    code: str
    label: Text
    meets: bool  # whether choosing it meets the question's criterion


@dataclass(frozen=True)
class Criterion:
    id: str
    axis: str
    level: int
    text: Text


@dataclass(frozen=True)
class Question:
    id: str
    axis: str
    criterion: str
    text: Text
    options: tuple[Option, ...]

    def option(self, code: str) -> Option | None:
        return next((option for option in self.options if option.code == code), None)


@dataclass(frozen=True)
class Level:
    """One rung of an axis: what it looks like (``description``) and what reaching it takes."""

    level: int
    name: Text
    description: Text
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True)
class Axis:
    id: str
    name: Text
    levels: tuple[Level, ...]  # 1 to 5, in order
    questions: tuple[Question, ...]
    domains: tuple[str, ...]  # vocabularies.DOMAINS codes of the projects and indicators it relates to
    territory_domains: bool  # its indicators follow the domains the territory's own projects serve

    def level(self, number: int) -> Level:
        return self.levels[number - 1]


@dataclass(frozen=True)
class Questionnaire:
    level_names: tuple[Text, ...]  # by level, 1 first
    level_summaries: tuple[Text, ...]
    axes: tuple[Axis, ...]

    @functools.cached_property
    def questions(self) -> dict[str, Question]:
        return {question.id: question for axis in self.axes for question in axis.questions}

    @functools.cached_property
    def criteria(self) -> dict[str, Criterion]:
        return {c.id: c for axis in self.axes for level in axis.levels for c in level.criteria}

    @functools.cached_property
    def by_id(self) -> dict[str, Axis]:
        return {axis.id: axis for axis in self.axes}

    def axis(self, axis_id: str) -> Axis:
        return self.by_id[axis_id]

    def as_json(self) -> dict[str, Any]:
        """The questionnaire as the API serves it (French and English texts)."""
        return {
            "levels": [{"level": n, "name": name.as_json(), "summary": summary.as_json()}
                       for n, name, summary in zip(LEVELS, self.level_names, self.level_summaries, strict=True)],
            "axes": [{
                "id": axis.id, "name": axis.name.as_json(), "domains": list(axis.domains),
                "levels": [{"level": level.level, "description": level.description.as_json(),
                            "criteria": [{"id": c.id, "text": c.text.as_json()} for c in level.criteria]}
                           for level in axis.levels],
                "questions": [{"id": q.id, "criterion": q.criterion, "text": q.text.as_json(),
                               "options": [{"code": o.code, "label": o.label.as_json(), "meets": o.meets}
                                           for o in q.options]}
                              for q in axis.questions],
            } for axis in self.axes],
        }


@functools.cache
def questionnaire() -> Questionnaire:
    """The packaged questionnaire, read once per process."""
    raw = (resources.files(__package__) / "data" / "maturity.json").read_bytes()
    return _parse(orjson.loads(raw))


def _parse(data: dict[str, Any]) -> Questionnaire:
    if data.get("format") != _DATA_FORMAT:
        raise InternalError(f"maturity.json has format {data.get('format')!r}; this code reads {_DATA_FORMAT}")
    yesno = tuple(_option(item) for item in data["yesno"])
    names = tuple(_text(item["name"]) for item in data["levels"])
    summaries = tuple(_text(item["summary"]) for item in data["levels"])
    axes = tuple(_axis(item, names, yesno) for item in data["axes"])
    if tuple(item["level"] for item in data["levels"]) != LEVELS:
        raise InternalError("maturity.json must name levels 1 to 5 in order")
    return Questionnaire(names, summaries, axes)


def _axis(data: dict[str, Any], names: tuple[Text, ...], yesno: tuple[Option, ...]) -> Axis:
    axis_id = data["id"]
    levels = tuple(
        Level(item["level"], names[item["level"] - 1], _text(item["description"]),
              tuple(Criterion(c["id"], axis_id, item["level"], _text(c["text"])) for c in item.get("criteria", ())))
        for item in data["levels"])
    questions = tuple(
        Question(q["id"], axis_id, q["criterion"], _text(q["text"]),
                 tuple(_option(o) for o in q["choices"]) if "choices" in q else yesno)
        for q in data["questions"])
    asked = {q.criterion for q in questions}
    criteria = {c.id for level in levels for c in level.criteria}
    # A criterion no question asks could never be met; a question must ask a criterion of its axis.
    if tuple(level.level for level in levels) != LEVELS or levels[0].criteria or asked != criteria \
            or not all(level.criteria for level in levels[1:]) or not 3 <= len(questions) <= 5:
        raise InternalError(f"maturity.json: axis {axis_id} is malformed (levels, criteria or questions)")
    return Axis(axis_id, _text(data["name"]), levels, questions, tuple(data.get("domains", ())),
                bool(data.get("territoryDomains", False)))


def _option(data: dict[str, Any]) -> Option:
    return Option(data["code"], _text(data["label"]), bool(data["meets"]))


def _text(data: dict[str, str]) -> Text:
    return Text(data["fr"], data["en"])


# ---- answers --------------------------------------------------------------------------------------
def answer_errors(answers: Mapping[str, Any]) -> dict[str, str]:
    """What is wrong with each question's answer: ``MISSING`` (no answer) or ``INVALID`` (not
    one of its options), by question id, in questionnaire order. Unknown ids are not looked at."""
    errors: dict[str, str] = {}
    for question in questionnaire().questions.values():
        value = answers.get(question.id)
        if value is None or value == "":
            errors[question.id] = MISSING
        elif not isinstance(value, str) or question.option(value) is None:
            errors[question.id] = INVALID
    return errors


def check_answers(answers: object) -> dict[str, str]:
    """The answers of a submission, every question answered with one of its options; otherwise
    ``BadRequestData`` naming the questions at fault."""
    if not isinstance(answers, dict):
        raise BadRequestData("answers: a JSON object of question id -> option code, e.g. {\"A1-Q1\": \"yes\"}")
    questions = questionnaire().questions
    unknown = [name for name in answers if name not in questions]
    if unknown:
        raise BadRequestData(f"answers: unknown question(s) {', '.join(map(str, unknown[:10]))}; "
                             "the questionnaire is at GET /api/observatoire/v1/diagnostic/questionnaire")
    errors = answer_errors(answers)
    invalid = [name for name, error in errors.items() if error == INVALID]
    if invalid:
        name = invalid[0]
        codes = ", ".join(option.code for option in questions[name].options)
        more = f" (and {len(invalid) - 1} more: {', '.join(invalid[1:])})" if len(invalid) > 1 else ""
        raise BadRequestData(f"answers.{name}: {answers[name]!r} is not one of its options ({codes}){more}")
    missing = [name for name, error in errors.items() if error == MISSING]
    if missing:
        raise BadRequestData(f"answers: question(s) {', '.join(missing)} unanswered; every question needs an "
                             "answer (a yes/no question accepts \"unknown\")")
    return dict(answers)


def met(criterion: Criterion, answers: Mapping[str, Any]) -> bool:
    """Whether the answers meet a criterion: every question asking it is answered with an option
    that meets it."""
    asked = [q for q in questionnaire().axis(criterion.axis).questions if q.criterion == criterion.id]
    for question in asked:
        option = question.option(answers.get(question.id)) if isinstance(answers.get(question.id), str) else None
        if option is None or not option.meets:
            return False
    return True


def levels(answers: Mapping[str, Any]) -> dict[str, int]:
    """The level of each axis (module docstring: a ladder, level 1 at least)."""
    reached: dict[str, int] = {}
    for axis in questionnaire().axes:
        level = 1
        for rung in axis.levels[1:]:
            if not all(met(criterion, answers) for criterion in rung.criteria):
                break
            level = rung.level
        reached[axis.id] = level
    return reached


# ---- peers and recommendations ------------------------------------------------------------------
def median_level(counts: Mapping[int, int]) -> float | None:
    """The median of a distribution of levels (level -> how many territories); None if empty."""
    expanded = [level for level in LEVELS for _ in range(counts.get(level, 0))]
    return statistics.median(expanded) if expanded else None


@dataclass(frozen=True)
class Recommendation:
    axis: Axis
    level: int                      # the next level, the one to reach
    unmet: tuple[Criterion, ...]    # its criteria the answers do not meet yet
    gap: float                      # the peers' median level minus the axis' level (0 without peers)


def recommendations(reached: Mapping[str, int], answers: Mapping[str, Any],
                    peer_medians: Mapping[str, float | None] | None = None) -> list[Recommendation]:
    """For each axis below level 5, the next level's criteria not met yet, most pressing first.

    Order: first by gap, largest first — how far the axis lags behind the median level of the
    territory's peers (same kind and population band, published diagnostics); an axis where the
    territory is ahead of its peers has a negative gap and comes late; without peers every gap
    is 0. Then quick wins first: a *quick win* is an axis whose next level is near, measured as
    the number of that level's criteria still unmet — one unmet criterion comes before two.
    Then in questionnaire order (A1 … A10)."""
    medians = peer_medians or {}
    found: list[Recommendation] = []
    for position, axis in enumerate(questionnaire().axes):
        level = reached[axis.id]
        if level >= TOP:
            continue
        target = axis.level(level + 1)
        unmet = tuple(c for c in target.criteria if not met(c, answers))
        median = medians.get(axis.id)
        found.append(Recommendation(axis, target.level, unmet, 0.0 if median is None else float(median - level)))
    order = {axis.id: n for n, axis in enumerate(questionnaire().axes)}
    found.sort(key=lambda r: (-r.gap, len(r.unmet), order[r.axis.id]))
    return found


def answers_meeting(levels_wanted: Mapping[str, int]) -> dict[str, str]:
    """Answers giving exactly these levels (axis -> level; absent axes at level 1): every question
    of the levels up to the one wanted answered with an option that meets it, the others with one
    that does not. For examples, tests and synthetic data."""
    answers: dict[str, str] = {}
    q = questionnaire()
    for axis in q.axes:
        wanted = levels_wanted.get(axis.id, 1)
        for question in axis.questions:
            meets = q.criteria[question.criterion].level <= wanted
            answers[question.id] = next(o.code for o in question.options if o.meets is meets)
    return answers


def axis_ids() -> Sequence[str]:
    return tuple(axis.id for axis in questionnaire().axes)
