"""Pausing Python's cyclic garbage collector during bulk reads.

Records hold lists (arguments, knobs); reading hundreds of thousands of them while
keeping them (a batch to commit, a list to return) makes CPython 3.11's collector
rescan the growing heap over and over: parsing a line went from 6 us to 120 us in a
measurement here.  Records form no reference cycles, so nothing is lost by pausing
the collector while they are read; it is restored (if it was on) afterwards.
"""
from __future__ import annotations

import contextlib
import gc
from typing import Iterator

__all__ = ["paused_gc"]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
