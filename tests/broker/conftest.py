"""The broker over each backend, as ``open_broker`` builds it for a serving process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from territoires.broker import Broker, open_broker
from territoires.config import Settings
from tests import postgres


@pytest.fixture(params=postgres.BACKENDS)
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    opened = open_broker(Settings(data_dir=tmp_path / "var", database_url=url))
    yield opened
    opened.close()
