"""Descriptors above 1024, as a process holding hundreds of tenant files open has them.

    with many_open_files():      # sockets opened in the block get descriptors above 1024,
        …                        # which select() cannot watch (poll() and epoll can)
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

HELD = 1100


@contextmanager
def many_open_files() -> Iterator[None]:
    """Hold ``HELD`` descriptors open for the block (skips the test where the system forbids it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = HELD + 200
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"this system allows {hard} open files, fewer than the test needs")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(HELD)]
    try:
        yield
    finally:
        for descriptor in held:
            os.close(descriptor)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
