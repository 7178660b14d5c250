"""Settings for the whole suite."""

from __future__ import annotations

import os

from hypothesis import settings

# In CI, property tests draw the same examples at every run: a rare case that chance finds
# shows up in a developer's run and becomes a test, never as a random failure of CI.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Fixtures every test module may ask for by name.
pytest_plugins = ["tests.mosquitto", "tests.oidc_issuer"]
