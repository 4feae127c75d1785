"""Callbacks run after every measured batch: ``callback(tuner, inputs, results)``."""
from __future__ import annotations

import os
from typing import Any, Optional, Sequence
from .._checks import check_int
from ..errors import ArgumentError

__all__ = ["log_to_file", "progress_bar", "LogToFile", "ProgressBar"]


class LogToFile:
    """Append every measured config to an AutoTVM v0.2 JSON-lines log.

    Each batch is written, flushed and fsynced before tuning continues, so a run killed
    at any point keeps every batch that finished; pass the same path as ``resume_from``
    to continue it.
    """

    def __init__(self, path: "str | os.PathLike"):
        path = os.fspath(path)
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise ArgumentError(f"log_to_file: directory {parent} does not exist")
        self.path = path

    def __call__(self, tuner: Any, inputs: Sequence[Any], results: Sequence[Any]) -> None:
        from ..records import Record, encode

        lines = [encode(Record.from_measure(inp, res)) + "\n" for inp, res in zip(inputs, results)]
        with open(self.path, "a", encoding="utf-8") as f:
            f.write("".join(lines))
            f.flush()
            os.fsync(f.fileno())

    def __repr__(self) -> str:
        return f"log_to_file({self.path!r})"


def log_to_file(path: "str | os.PathLike") -> LogToFile:
    """Callback appending AutoTVM v0.2 records to ``path`` (flushed and fsynced per batch)."""
    return LogToFile(path)


class ProgressBar:
    """A tqdm bar: trials done, best GFLOPS (or best 1/s) and the current epsilon."""

    def __init__(self, total: int, desc: Optional[str] = None, **tqdm_kwargs: Any):
        self.total = check_int(total, "total", "progress_bar", low=0)
        self.desc = desc
        self.tqdm_kwargs = tqdm_kwargs
        self._bar = None

    def start(self, tuner: Any, n_trial: int, n_resumed: int) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=self.total, initial=min(n_resumed, self.total),
                         desc=self.desc or str(getattr(tuner.task, "name", "tune")), **self.tqdm_kwargs)

    def __call__(self, tuner: Any, inputs: Sequence[Any], results: Sequence[Any]) -> None:
        if self._bar is None:
            self.start(tuner, self.total, 0)
        gflops = tuner.best_gflops
        post = {"best": f"{gflops:.2f} GFLOPS" if gflops is not None else f"{tuner.best_throughput:.3g}/s"}
        if tuner.epsilon is not None:
            post["eps"] = f"{tuner.epsilon:.3f}"
        self._bar.set_postfix(post, refresh=False)
        self._bar.update(len(results))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def progress_bar(total: int, desc: Optional[str] = None, **tqdm_kwargs: Any) -> ProgressBar:
    """Callback showing a tqdm progress bar with best GFLOPS and the current epsilon."""
    return ProgressBar(total, desc, **tqdm_kwargs)
