"""The observatory's services of one application, each made on first use: they share the
territory registry (read once per process) and the project service, so the JSON API and the
pages of one application answer from the same objects."""

from __future__ import annotations

from functools import cached_property

from territoires.broker import Broker
from territoires.observatoire.assessments import AssessmentService
from territoires.observatoire.intentions import IntentionService
from territoires.observatoire.partners import PartnerService
from territoires.observatoire.projects import ProjectService
from territoires.observatoire.registry import TerritoryRegistry
from territoires.observatoire.working_groups import WorkingGroupService


class Observatory:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    @cached_property
    def registry(self) -> TerritoryRegistry:
        return TerritoryRegistry.load()

    @cached_property
    def projects(self) -> ProjectService:
        return ProjectService(self.broker, self.registry)

    @cached_property
    def assessments(self) -> AssessmentService:
        return AssessmentService(self.broker, self.registry, projects=self.projects)

    @cached_property
    def intentions(self) -> IntentionService:
        return IntentionService(self.broker, self.registry)

    @cached_property
    def partners(self) -> PartnerService:
        return PartnerService(self.broker, self.registry)

    @cached_property
    def working_groups(self) -> WorkingGroupService:
        return WorkingGroupService(self.broker, self.registry)
