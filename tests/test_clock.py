"""The one clock writes UTC instants as ISO 8601 with microseconds and ``Z``."""

import re
from datetime import UTC, datetime, timedelta

from territoires import clock

_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def test_now_is_utc_with_microseconds_and_z():
    before = datetime.now(UTC)
    stamped = clock.now()
    after = datetime.now(UTC)
    assert _INSTANT.fullmatch(stamped), stamped
    assert before - timedelta(microseconds=1) <= datetime.fromisoformat(stamped) <= after


def test_ahead_is_that_far_from_now_in_the_same_form():
    stamped = clock.ahead(90)
    assert _INSTANT.fullmatch(stamped), stamped
    assert abs(datetime.fromisoformat(stamped) - datetime.now(UTC) - timedelta(seconds=90)) < timedelta(seconds=5)
