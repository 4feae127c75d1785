"""The digits application: an int8 MLP whose multiplications go through approximate
multipliers.

A small multilayer perceptron is trained with scikit-learn on its bundled ``load_digits``
data (8x8 images, 10 classes; nothing is downloaded), then quantised to int8:

* inputs ``0..16`` are scaled to ``0..127``;
* each layer's weights are scaled symmetrically to ``[-127, 127]``;
* hidden activations (after ReLU) are requantised to ``0..127`` with a scale
  calibrated on the training split.

Every multiplication of a layer ``x @ W`` is a lookup in the chosen multiplier's
256x256 table (:func:`~adatune.approx.multipliers.lut_matmul`); accumulation, bias and
rescaling are exact. The data is split into train / tune / test (60 / 20 / 20 %,
stratified, fixed seed); QoS is accuracy in percent on the tune split (or the test
split with ``is_test``), cost the model's relative energy (multiplications weighted
by the multipliers' proxy cost, see :mod:`~adatune.approx.multipliers`).
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .._checks import check_int, check_positive_int
from ..errors import ArgumentError, ArgumentTypeError
from .app import KnobsT
from .knobs import ApproxKnob
from .multipliers import (ApproxMultiplier, IntermediateLayerResults, MatchingInfo, default_multipliers,
                          lut_matmul, select_multipliers)
from .predictive import ModeledApp

__all__ = ["DigitsNet", "DigitsApp"]


class DigitsNet:
    """The trained float MLP, its int8 version and the data splits.

    Parameters
    ----------
    hidden : tuple of int, default (48, 24)
    seed : int, default 0
        Seeds the split and the training.

    Attributes
    ----------
    layer_names : list of str
        ``fc1``, ``fc2``, ...
    layer_multipliers : dict of str to ApproxMultiplier
        The multiplier each layer of the int8 forward pass (:meth:`logits`) uses;
        exact everywhere until :func:`~adatune.approx.multipliers.deploy_multipliers`
        changes it.
    """

    def __init__(self, hidden: Sequence[int] = (48, 24), seed: int = 0):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        from sklearn.neural_network import MLPClassifier

        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise ArgumentTypeError(f"DigitsNet: hidden must be a sequence of layer sizes, got {hidden!r}")
        if not hidden:
            raise ArgumentError("DigitsNet: hidden must name at least one layer size")
        hidden = [check_positive_int(h, f"hidden[{i}]", "DigitsNet") for i, h in enumerate(hidden)]
        seed = check_int(seed, "seed", "DigitsNet", low=0)
        X, y = load_digits(return_X_y=True)
        x_tr, x_rest, y_tr, y_rest = train_test_split(X, y, test_size=0.4, stratify=y, random_state=seed)
        x_tu, x_te, y_tu, y_te = train_test_split(x_rest, y_rest, test_size=0.5, stratify=y_rest,
                                                  random_state=seed)
        self.splits = {"train": (x_tr, y_tr), "tune": (x_tu, y_tu), "test": (x_te, y_te)}
        from threadpoolctl import threadpool_limits

        clf = MLPClassifier(hidden_layer_sizes=tuple(int(h) for h in hidden), activation="relu",
                            learning_rate_init=0.01, max_iter=300, random_state=seed)
        # One BLAS thread: these matrices are tiny, and a thread per core on a shared
        # machine made the fit ~8x slower. Unit-range inputs train better; the 1/16 is
        # folded into layer 1 below.
        with threadpool_limits(limits=1):
            clf.fit(x_tr / 16.0, y_tr)
        self.classifier = clf
        self.weights = [w.copy() for w in clf.coefs_]
        self.weights[0] = self.weights[0] / 16.0  # so that the net takes raw 0..16 pixels
        self.biases = [b.copy() for b in clf.intercepts_]
        self.layer_names = [f"fc{i + 1}" for i in range(len(self.weights))]
        self._quantise()
        exact = default_multipliers()["exact"]
        self.layer_multipliers: Dict[str, ApproxMultiplier] = {n: exact for n in self.layer_names}

    # ------------------------------------------------------------------ float model
    def float_logits(self, x: np.ndarray) -> np.ndarray:
        a = np.asarray(x, dtype=np.float64)
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            a = a @ w + b
            if k < len(self.weights) - 1:
                a = np.maximum(a, 0.0)
        return a

    def float_accuracy(self, split: str = "test") -> float:
        x, y = self._split(split)
        return 100.0 * float(np.mean(self.float_logits(x).argmax(axis=1) == y))

    # ------------------------------------------------------------------ int8 model
    def _quantise(self) -> None:
        self.in_scale = 127.0 / 16.0
        self.w_scales = [127.0 / float(np.abs(w).max()) for w in self.weights]
        self.w_q = [np.clip(np.round(w * s), -127, 127).astype(np.int64) for w, s in zip(self.weights, self.w_scales)]
        # activation scales from the float model's hidden activations on the train split
        x = self.splits["train"][0]
        a = np.asarray(x, dtype=np.float64)
        self.act_scales = [self.in_scale]
        for k, (w, b) in enumerate(zip(self.weights[:-1], self.biases[:-1])):
            a = np.maximum(a @ w + b, 0.0)
            top = float(np.percentile(a, 99.9)) or 1.0
            self.act_scales.append(127.0 / top)

    def quantise_input(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.round(np.asarray(x, np.float64) * self.in_scale), 0, 127).astype(np.int64)

    def layer(self, k: int, a_q: np.ndarray, mult: ApproxMultiplier) -> np.ndarray:
        """Layer ``k`` on int8 activations: next int8 activations, or logits for the last."""
        acc = lut_matmul(a_q, self.w_q[k], mult)
        z = acc / (self.act_scales[k] * self.w_scales[k]) + self.biases[k]
        if k == len(self.weights) - 1:
            return z
        return np.clip(np.round(np.maximum(z, 0.0) * self.act_scales[k + 1]), 0, 127).astype(np.int64)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Logits of raw inputs ``x`` (n, 64) from the int8 net, each layer multiplying
        with its :attr:`layer_multipliers` entry."""
        a = self.quantise_input(x)
        for k, name in enumerate(self.layer_names):
            a = self.layer(k, a, self.layer_multipliers[name])
        return a

    def accuracy(self, split: str = "test") -> float:
        """Accuracy in percent of the int8 net (deployed multipliers) on a split."""
        x, y = self._split(split)
        return 100.0 * float(np.mean(self.logits(x).argmax(axis=1) == y))

    def intermediate_results(self, data: Union[str, np.ndarray] = "train") -> Dict[str, IntermediateLayerResults]:
        """A sampling run: each layer's int8 inputs and weights, with exact multipliers.

        ``data`` is a split name or an array of raw inputs (n, 64).
        """
        x = self._split(data)[0] if isinstance(data, str) else np.asarray(data)
        exact = default_multipliers()["exact"]
        a = self.quantise_input(x)
        out = {}
        for k, name in enumerate(self.layer_names):
            out[name] = IntermediateLayerResults(a, self.w_q[k])
            if k < len(self.weights) - 1:
                a = self.layer(k, a, exact)
        return out

    @property
    def opcounts(self) -> Dict[str, int]:
        """Multiplications per layer and sample."""
        return {n: int(w.shape[0] * w.shape[1]) for n, w in zip(self.layer_names, self.weights)}

    def _split(self, split: str) -> Tuple[np.ndarray, np.ndarray]:
        if split not in self.splits:
            raise ArgumentError(f"DigitsNet: unknown split {split!r}; choose one of {sorted(self.splits)}")
        return self.splits[split]


class DigitsApp(ModeledApp):
    """:class:`DigitsNet` as an :class:`ApproxApp`: one operator per layer, one knob per
    multiplier (``exact`` is the baseline).

    Parameters
    ----------
    multipliers : mapping name -> ApproxMultiplier, optional
        Default :func:`~adatune.approx.multipliers.default_multipliers`; must hold ``"exact"``.
    net : DigitsNet, optional
        A trained network (trained here when omitted).
    """

    def __init__(self, multipliers: Optional[Mapping[str, ApproxMultiplier]] = None,
                 net: Optional[DigitsNet] = None):
        self.multipliers = dict(default_multipliers() if multipliers is None else multipliers)
        if "exact" not in self.multipliers:
            raise ArgumentError("DigitsApp: the multipliers must include 'exact' (the baseline)")
        if net is not None and not isinstance(net, DigitsNet):
            raise ArgumentTypeError(f"DigitsApp: net must be a DigitsNet, got {type(net).__name__}")
        self.net = net if net is not None else DigitsNet()
        # features for model-based tuners: proxy cost and the error's size on uniform operands
        knobs = [ApproxKnob(n, baseline_priority=1 if n == "exact" else None, multiplier=m,
                            features=[m.cost, float(np.log1p(np.sqrt(np.mean(m.error_map.astype(np.float64) ** 2))))])
                 for n, m in self.multipliers.items()]
        super().__init__({name: list(knobs) for name in self.net.layer_names})
        self._cache: Dict[tuple, np.ndarray] = {}

    @property
    def name(self) -> str:
        return "digits_mlp"

    def op_costs(self) -> Dict[str, float]:
        """Energy of each layer with exact multipliers: its multiplication count."""
        return {k: float(v) for k, v in self.net.opcounts.items()}

    def knob_speedup(self, op: str, knob: str) -> float:
        return 1.0 / self.multipliers[knob].cost

    def relative_energy(self, with_approxes: KnobsT) -> float:
        """Model energy relative to all-exact multipliers (proxy cost, see multipliers)."""
        ops = self.net.opcounts
        total = sum(ops.values())
        return sum(ops[l] * self.multipliers[with_approxes[l]].cost for l in ops) / total

    def measure_qos_cost(self, with_approxes: KnobsT, is_test: bool = False) -> Tuple[float, float]:
        knobs = self.check_config(self.add_baseline_to_knobs(with_approxes))
        split = "test" if is_test else "tune"
        x, y = self.net.splits[split]
        names = self.net.layer_names
        # Activations after a prefix of layers depend only on that prefix's multipliers:
        # cache them, so sweeping the last layers reuses the first ones.
        a = None
        for k in range(len(names) - 1, 0, -1):
            a = self._cache.get((split, tuple(knobs[n] for n in names[:k])))
            if a is not None:
                start = k
                break
        if a is None:
            a, start = self.net.quantise_input(x), 0
        for k in range(start, len(names)):
            a = self.net.layer(k, a, self.multipliers[knobs[names[k]]])
            if k < len(names) - 1 and len(self._cache) < 4096:
                self._cache[(split, tuple(knobs[n] for n in names[:k + 1]))] = a
        acc = 100.0 * float(np.mean(a.argmax(axis=1) == y))
        return acc, self.relative_energy(knobs)

    def select_multipliers(self, max_noise: float, num_samples: int = 512) -> MatchingInfo:
        """Per-layer multipliers of this app's library from the error model, sampled on
        the train split (:func:`~adatune.approx.multipliers.select_multipliers`)."""
        return select_multipliers(self.net, "train", self.multipliers, max_noise=max_noise,
                                  num_samples=num_samples)
