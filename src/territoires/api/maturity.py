"""The maturity self-diagnostic's JSON API, under /api/observatoire/v1: the questionnaire, and
a territory's diagnostic with its publication, history, peers and recommendations.

Thin: parse, call ``observatoire.assessments.AssessmentService`` with the caller's principal
(the gate identifies it; the service decides: contributors of the territory and moderators
write, and read it until it is published), render.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from territoires.api.http import JSON, call, json_response, read_json
from territoires.api.observatoire import BASE
from territoires.ngsild.errors import BadRequestData
from territoires.observatoire import maturity
from territoires.observatoire.assessments import AssessmentService

DIAGNOSTIC = f"{BASE}/territories/{{kind}}/{{code}}/diagnostic"


def assessments(request: Request) -> AssessmentService:
    return request.app.state.observatory.assessments


def _territory(request: Request) -> tuple[str, str]:
    return request.path_params["kind"], request.path_params["code"]


async def questionnaire(request: Request) -> Response:
    """The questionnaire: levels, axes, criteria and questions with their options (French and English)."""
    return json_response(maturity.questionnaire().as_json())


async def get_diagnostic(request: Request) -> Response:
    """The territory's current diagnostic (its contributors and moderators, or anyone once published)."""
    service = await call(request, assessments, request)
    return json_response(await call(request, service.get, request.state.principal, *_territory(request)))


async def put_diagnostic(request: Request) -> Response:
    """Submit the territory's diagnostic: ``{"answers": {question id: option code}}``, every question answered."""
    body = await read_json(request, allow=(JSON,))
    answers = _answers(body)
    service = await call(request, assessments, request)
    shown = await call(request, service.submit, request.state.principal, *_territory(request), answers)
    return json_response(shown)


def _answers(body: Any) -> Any:
    if not isinstance(body, dict) or "answers" not in body:
        raise BadRequestData('the body is {"answers": {question id: option code}}, e.g. {"answers": {"A1-Q1": "yes"}}')
    extra = sorted(set(body) - {"answers"})
    if extra:
        raise BadRequestData(f"unknown member(s) {', '.join(extra)}; the body holds only answers")
    return body["answers"]


def _territory_operation(operation: str, summary: str) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint answering ``AssessmentService.<operation>(principal, kind, code)``."""

    async def endpoint(request: Request) -> Response:
        service = await call(request, assessments, request)
        return json_response(await call(request, getattr(service, operation), request.state.principal,
                                        *_territory(request)))

    endpoint.__name__, endpoint.__doc__ = operation, summary
    return endpoint


publish = _territory_operation("publish", "Publish the territory's diagnostic: everyone reads it, and it counts "
                                          "among its peers'.")
unpublish = _territory_operation("unpublish", "Make the territory's diagnostic private again.")
history = _territory_operation("history", "Every submission (date, levels) and publication of the territory's "
                                          "diagnostic, oldest first.")
peers = _territory_operation("peers", "How many of the territory's peers (same kind and population band, "
                                      "published) are at each level of each axis.")
recommendations = _territory_operation("recommendations", "The next level's unmet criteria of each axis, most "
                                                          "pressing first, with projects and indicators.")


routes = [
    Route(f"{BASE}/diagnostic/questionnaire", questionnaire, methods=["GET"]),
    Route(DIAGNOSTIC, get_diagnostic, methods=["GET"]),
    Route(DIAGNOSTIC, put_diagnostic, methods=["PUT"]),
    Route(f"{DIAGNOSTIC}/publish", publish, methods=["POST"]),
    Route(f"{DIAGNOSTIC}/unpublish", unpublish, methods=["POST"]),
    Route(f"{DIAGNOSTIC}/history", history, methods=["GET"]),
    Route(f"{DIAGNOSTIC}/peers", peers, methods=["GET"]),
    Route(f"{DIAGNOSTIC}/recommendations", recommendations, methods=["GET"]),
]
