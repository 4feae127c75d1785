"""A synthetic application whose whole Pareto front is known (by enumeration).

Each operator ``i`` has knobs ``k = 0..K-1``; knob 0 is exact. Knob ``k`` on operator
``i`` divides the operator's cost by a speedup ``s[i, k] >= 1`` and costs QoS
``l[i, k] >= 0``, roughly growing with the speedup (more aggressive knobs lose more).
Losses interact mildly (a quadratic term), so QoS is not additive::

    qos  = 100 - L - gamma * L**2 / 100,   L = sum_i l[i, k_i]
    cost = sum_i w[i] / s[i, k_i]

The test inputs lose ``test_scale`` times as much QoS. Deterministic given ``seed``.
"""
from __future__ import annotations

import itertools
from typing import Dict, Optional, Tuple

import numpy as np

from .._checks import check_int, check_number, check_positive_int, check_seed
from .app import KnobsT
from .config import Config
from .knobs import ApproxKnob
from .pareto import pareto_front
from .predictive import ModeledApp

__all__ = ["SyntheticApp"]


class SyntheticApp(ModeledApp):
    """Synthetic operators with random (seeded) speedups and QoS losses.

    Parameters
    ----------
    n_ops : int, default 5
    n_knobs : int, default 6
        Knobs per operator, the exact one included.
    gamma : float, default 0.5
        Strength of the loss interaction.
    test_scale : float, default 1.1
    seed : int, default 0
    """

    def __init__(self, n_ops: int = 5, n_knobs: int = 6, gamma: float = 0.5, test_scale: float = 1.1,
                 seed: int = 0):
        n_ops = check_positive_int(n_ops, "n_ops", "SyntheticApp")
        n_knobs = check_int(n_knobs, "n_knobs", "SyntheticApp", low=2)
        gamma = check_number(gamma, "gamma", "SyntheticApp")
        test_scale = check_number(test_scale, "test_scale", "SyntheticApp", low=0.0)
        rng = np.random.default_rng(check_seed(seed, "seed", "SyntheticApp"))
        self.weights = rng.uniform(0.5, 2.0, n_ops)
        speed = np.ones((n_ops, n_knobs))
        loss = np.zeros((n_ops, n_knobs))
        for i in range(n_ops):
            speed[i, 1:] = 1.0 + rng.uniform(0.05, 3.0, n_knobs - 1)
            # loss rises with speedup, with scatter: some knobs are bargains, some traps
            loss[i, 1:] = (speed[i, 1:] - 1.0) ** 1.5 * rng.uniform(0.2, 2.0, n_knobs - 1) * rng.uniform(0.3, 1.5)
        self.speed, self.loss = speed, loss
        self.gamma, self.test_scale = float(gamma), float(test_scale)
        self._n_ops, self._n_knobs = n_ops, n_knobs
        shared = [ApproxKnob("exact", baseline_priority=1)] + [ApproxKnob(f"k{k}") for k in range(1, n_knobs)]
        ops = {f"op{i}": list(shared) for i in range(n_ops)}
        super().__init__(ops)

    @property
    def name(self) -> str:
        return f"synthetic{self._n_ops}x{self._n_knobs}"

    def _choice(self, with_approxes: KnobsT) -> np.ndarray:
        knobs = self.check_config(self.add_baseline_to_knobs(with_approxes))
        return np.array([0 if knobs[op] == "exact" else int(knobs[op][1:]) for op in self.op_knobs])

    def _qos_cost(self, choice: np.ndarray, is_test: bool) -> Tuple[np.ndarray, np.ndarray]:
        """Vectorised over rows of ``choice`` (n, n_ops)."""
        rows = np.arange(self._n_ops)[None, :]
        L = self.loss[rows, choice].sum(axis=1) * (self.test_scale if is_test else 1.0)
        qos = 100.0 - L - self.gamma * L ** 2 / 100.0
        cost = (self.weights[None, :] / self.speed[rows, choice]).sum(axis=1)
        return qos, cost

    def measure_qos_cost(self, with_approxes: KnobsT, is_test: bool = False) -> Tuple[float, float]:
        qos, cost = self._qos_cost(self._choice(with_approxes)[None, :], is_test)
        return float(qos[0]), float(cost[0])

    def op_costs(self) -> Dict[str, float]:
        return {op: float(w) for op, w in zip(self.op_knobs, self.weights)}

    def knob_speedup(self, op: str, knob: str) -> float:
        return float(self.speed[int(op[2:]), 0 if knob == "exact" else int(knob[1:])])

    def all_configs(self, is_test: bool = False):
        """Every config as ``(choices (n, n_ops), qos (n,), relative cost (n,))``."""
        choice = np.array(list(itertools.product(range(self._n_knobs), repeat=self._n_ops)))
        qos, cost = self._qos_cost(choice, is_test)
        return choice, qos, cost / self.weights.sum()

    def reference_front(self, min_qos: Optional[float] = None) -> list:
        """The exact Pareto front (tuning QoS), optionally above ``min_qos``."""
        choice, qos, cost = self.all_configs()
        keep = np.ones(len(qos), bool) if min_qos is None else qos >= min_qos
        names = list(self.op_knobs)
        configs = [Config(q, c, {op: ("exact" if k == 0 else f"k{k}") for op, k in zip(names, ch)})
                   for ch, q, c in zip(choice[keep], qos[keep], cost[keep])]
        return pareto_front(configs)
