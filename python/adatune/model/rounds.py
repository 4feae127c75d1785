"""The loop that hands a model's trial budget out in rounds, one task or several at once.

:class:`.scheduler.TaskScheduler` says which task gets the next round; this loop runs
the rounds. With ``concurrency`` 1 it runs them one after the other. With more (a farm
of devices: :class:`adatune.farm.FarmMeasure` says how many), up to ``concurrency``
rounds of *different* template tasks run at once, each in its own thread, so that their
candidates share the farm's servers and one task builds while another is measured.
The budget stays exact: a round is given at most what is left after the rounds in
flight, and is counted by what it measured. A MetaSchedule round (timed on this host)
runs alone.
"""
from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Dict, List, Tuple

from .scheduler import TaskScheduler

logger = logging.getLogger(__name__)

__all__ = ["run_rounds", "ROUND", "warm_up_size", "rounds_at_once"]

#: Trials per round of the task scheduler (one RFEI plan).
ROUND = 16


def warm_up_size(trials: int, n_tasks: int) -> int:
    """Trials of each task's first round: short, so that a small budget reaches every task."""
    return max(4, min(ROUND, trials // (2 * n_tasks)))


def rounds_at_once(measure_option: Any) -> int:
    """Rounds of different tasks that may run at once: a farm says (``tasks_at_once``),
    anything else runs them one after the other."""
    return int(getattr(measure_option, "tasks_at_once", 1) or 1)


def _round_size(scheduler: TaskScheduler, i: int, warm_up: int, round_size: int, left: int) -> int:
    return min(warm_up if scheduler.tasks[i].rounds == 0 else round_size, left)


def run_rounds(tasks: List[Any], scheduler: TaskScheduler, trials: int, done: int, warm_up: int,
               round_size: int, measure_option: Any, on_round: Callable[[int, int], None],
               concurrency: int = 1) -> int:
    """Run rounds until ``trials`` are measured or every task is exhausted; returns the
    trials measured in all (``done`` included). ``on_round(i, done)`` follows each round."""
    def finish(i: int, measured: int) -> None:
        nonlocal done
        task = tasks[i]
        scheduler.record(i, measured, task.best_latency, task.exhausted or measured == 0)
        done += measured
        on_round(i, done)

    if concurrency <= 1:
        while done < trials:
            i = scheduler.next_task()
            if i is None:
                logger.info("every task's space is exhausted after %d trials", done)
                break
            finish(i, tasks[i].run(_round_size(scheduler, i, warm_up, round_size, trials - done),
                                   measure_option))
        return done

    running: Dict[Future, Tuple[int, int]] = {}
    reserved = 0
    with ThreadPoolExecutor(concurrency, thread_name_prefix="task-round") as pool:
        while True:
            solo = any(tasks[i].kind != "template" for i, _ in running.values())
            while not solo and len(running) < concurrency and done + reserved < trials:
                busy = {i for i, _ in running.values()}
                i = scheduler.next_task(busy)
                if i is None or (tasks[i].kind != "template" and running):
                    break  # nothing free, or a MetaSchedule round that must run alone
                n = _round_size(scheduler, i, warm_up, round_size, trials - done - reserved)
                running[pool.submit(tasks[i].run, n, measure_option)] = (i, n)
                reserved += n
                solo = tasks[i].kind != "template"
            if not running:
                if done < trials:
                    logger.info("every task's space is exhausted after %d trials", done)
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                i, n = running.pop(fut)
                reserved -= n
                finish(i, fut.result())  # a round's error ends the run (the others finish first)
    return done
