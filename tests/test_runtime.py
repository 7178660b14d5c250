"""The server's workers tune the garbage collector once their application is built."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from territoires.runtime import YOUNG_COLLECTION_THRESHOLD


def test_a_worker_freezes_its_start_up_objects_and_collects_young_ones_less_often(tmp_path: Path) -> None:
    probe = ("import gc; from territoires.app import app_from_env; app_from_env(); "
             "print(gc.get_threshold()[0], gc.get_freeze_count() > 0)")
    env = {**os.environ, "TERRITOIRES_DATA_DIR": str(tmp_path), "TERRITOIRES_AUTH": "0"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(YOUNG_COLLECTION_THRESHOLD), "True"]
