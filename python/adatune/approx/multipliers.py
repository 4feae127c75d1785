"""8-bit approximate multipliers, their error maps, and per-layer multiplier selection.

The library is generated here, not downloaded. Each multiplier is an unsigned 8x8 array
multiplier with some partial-product bits removed (``a_i * b_j`` has weight
``2**(i+j)``); signed int8 operands go through it in sign-magnitude form (the sign of
the product is exact), so every table is defined on ``[-128, 127]^2``:

* ``exact`` -- all 64 partial-product bits;
* ``trunc<k>`` -- truncated multiplier: bits in columns ``i + j < k`` removed;
* ``bam<h>_<v>`` -- broken-array multiplier (Mahdiani et al., 2010): rows ``j < h``
  (horizontal break level) and columns ``i + j < v`` (vertical break level) removed.

**Cost figure.** ``cost`` is the fraction of the 64 partial-product bits a multiplier
keeps. It is a *proxy* for energy per multiplication (fewer AND gates and adder cells),
not a silicon or post-synthesis measurement; relative energies computed from it compare
designs of one family only roughly.

Per-layer selection (the idea of agnapprox's matching): a layer computing
``y = x @ w`` with ``K`` products per output gains, per product, the error
``E[x, w] = approx(x, w) - x * w``. With the operands' value histograms ``p`` (inputs)
and ``q`` (weights), and terms treated as independent, the output error's standard
deviation is ``sqrt(K * Var_{p x q}(E))``. A multiplier fits when that is at most
``max_noise * std(exact y)``; the cheapest fitting multiplier is chosen.

The selection API follows agnapprox's ``select_multipliers`` module
(``select_layer_multiplier``, ``LayerInfo``, ``MatchingInfo``, ``select_multipliers``,
``deploy_multipliers``); its ``performance_metric`` is our ``cost``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import numpy as np

from .._checks import check_callable, check_int, check_number, check_positive_int
from ..errors import ArgumentError, ArgumentTypeError

__all__ = [
    "ApproxMultiplier", "make_multiplier", "default_multipliers", "lut_matmul", "estimate_error_std",
    "IntermediateLayerResults", "select_layer_multiplier", "LayerInfo", "MatchingInfo", "select_multipliers",
    "deploy_multipliers",
]

_BITS = 8
_N_PP = _BITS * _BITS  # partial-product bits of the exact 8x8 array


class ApproxMultiplier:
    """A signed 8-bit multiplier given by its 256x256 product table.

    Parameters
    ----------
    name : str
    table : ndarray, shape (256, 256), int32
        ``table[a + 128, b + 128]`` is the product of int8 ``a`` and ``b``.
    cost : float
        Proxy energy per multiplication relative to the exact multiplier (see the
        module docstring: kept partial-product bits / 64, not a silicon figure).
    """

    def __init__(self, name: str, table: np.ndarray, cost: float):
        owner = f"ApproxMultiplier({name!r})"
        table = np.asarray(table)
        if table.shape != (256, 256):
            raise ArgumentError(f"{owner}: table must be 256x256, got {table.shape}")
        self.name = str(name)
        self.table = table.astype(np.int32)
        self.cost = check_number(cost, "cost", owner, low=0.0, high=1.0, low_open=True)

    @property
    def performance_metric(self) -> float:
        """agnapprox's name for :attr:`cost` (energy per multiplication, a proxy)."""
        return self.cost

    @property
    def error_map(self) -> np.ndarray:
        """``approx - exact`` for every pair of int8 operands, shape (256, 256)."""
        v = np.arange(-128, 128, dtype=np.int32)
        return self.table - v[:, None] * v[None, :]

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Elementwise approximate product of int8 arrays (broadcasting)."""
        return self.table[np.asarray(a, np.int64) + 128, np.asarray(b, np.int64) + 128]

    def __repr__(self) -> str:
        return f"ApproxMultiplier({self.name!r}, cost={self.cost:.3f})"


def _kept_mask(hbl: int, vbl: int) -> np.ndarray:
    """(8, 8) mask of kept partial-product bits ``a_i b_j`` (i: bit of a, j: bit of b)."""
    i = np.arange(_BITS)[:, None]
    j = np.arange(_BITS)[None, :]
    return (j >= hbl) & (i + j >= vbl)


def make_multiplier(name: str, hbl: int = 0, vbl: int = 0) -> ApproxMultiplier:
    """A broken-array multiplier with break levels ``hbl`` (rows) and ``vbl`` (columns).

    ``hbl = vbl = 0`` is exact; ``hbl = 0`` is a truncated multiplier.
    """
    hbl = check_int(hbl, "hbl", f"make_multiplier({name!r})", low=0, high=_BITS - 1)
    vbl = check_int(vbl, "vbl", f"make_multiplier({name!r})", low=0, high=2 * _BITS - 2)
    keep = _kept_mask(hbl, vbl)
    mags = np.arange(256, dtype=np.int64)
    bits = (mags[:, None] >> np.arange(_BITS)[None, :]) & 1  # (256, 8)
    weights = np.where(keep, 2 ** (np.arange(_BITS)[:, None] + np.arange(_BITS)[None, :]), 0)
    umul = bits @ weights @ bits.T  # (256, 256): approximate product of magnitudes
    v = np.arange(-128, 128, dtype=np.int64)
    mag = np.abs(v)
    sign = np.sign(v)
    table = (sign[:, None] * sign[None, :]) * umul[mag[:, None], mag[None, :]]
    return ApproxMultiplier(name, table, cost=float(keep.sum()) / _N_PP)


def default_multipliers() -> Dict[str, ApproxMultiplier]:
    """The built-in library: exact, truncated and broken-array multipliers, cheapest last."""
    specs = [("exact", 0, 0)]
    specs += [(f"trunc{k}", 0, k) for k in (3, 5, 6, 7, 8, 9)]
    specs += [(f"bam{h}_{v}", h, v) for h, v in ((1, 4), (1, 6), (2, 6), (2, 8), (3, 8))]
    mults = [make_multiplier(n, h, v) for n, h, v in specs]
    mults.sort(key=lambda m: -m.cost)
    return {m.name: m for m in mults}


def lut_matmul(x: np.ndarray, w: np.ndarray, mult: ApproxMultiplier, chunk: int = 128) -> np.ndarray:
    """``x @ w`` for int8 ``x`` (n, k) and ``w`` (k, m), every product from ``mult``'s table.

    Vectorised: for each block of rows, the table is gathered into an (rows, k, m) array
    and summed over ``k`` in int64.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ArgumentError(f"lut_matmul: shapes {x.shape} and {w.shape} do not multiply")
    if x.min(initial=0) < -128 or x.max(initial=0) > 127 or w.min(initial=0) < -128 or w.max(initial=0) > 127:
        raise ArgumentError("lut_matmul: operands must be int8 values in [-128, 127]")
    xi = x.astype(np.int64) + 128
    wi = w.astype(np.int64) + 128
    out = np.empty((x.shape[0], w.shape[1]), dtype=np.int64)
    table = mult.table
    # gather table rows for each x value once: (256, k, m) would be big; per chunk instead
    for lo in range(0, x.shape[0], chunk):
        out[lo:lo + chunk] = table[xi[lo:lo + chunk, :, None], wi[None, :, :]].sum(axis=1, dtype=np.int64)
    return out


def _hist(values: np.ndarray, where: str) -> np.ndarray:
    v = np.asarray(values).ravel()
    if v.size == 0:
        raise ArgumentError(f"{where}: no values")
    if v.min() < -128 or v.max() > 127 or not np.all(np.equal(np.mod(v, 1), 0)):
        raise ArgumentError(f"{where}: values must be int8 integers in [-128, 127]")
    return np.bincount(v.astype(np.int64) + 128, minlength=256).astype(np.float64) / v.size


def estimate_error_std(input_hist: np.ndarray, weight_hist: np.ndarray, mult: ApproxMultiplier,
                       n_terms: int) -> float:
    """Standard deviation of a sum of ``n_terms`` product errors, operands drawn from the
    histograms (each of length 256, index ``value + 128``), terms independent."""
    err = mult.error_map.astype(np.float64)
    joint = np.outer(input_hist, weight_hist)
    mean = float((joint * err).sum())
    var = float((joint * err * err).sum()) - mean * mean
    return float(np.sqrt(max(var, 0.0) * n_terms))


def _library(multipliers: Union[Mapping[str, ApproxMultiplier], Iterable[ApproxMultiplier]],
             owner: str) -> Dict[str, ApproxMultiplier]:
    """``multipliers`` (a mapping or an iterable of them) as a name -> multiplier dict."""
    items = list(multipliers.values()) if isinstance(multipliers, Mapping) else list(multipliers)
    bad = [m for m in items if not isinstance(m, ApproxMultiplier)]
    if bad:
        raise ArgumentTypeError(f"{owner}: multipliers must be ApproxMultiplier objects, got {bad[0]!r}")
    if not items:
        raise ArgumentError(f"{owner}: no multipliers given")
    return {m.name: m for m in items}


@dataclass
class IntermediateLayerResults:
    """What a sampling run records of one layer ``y = x @ w``: its int8 operands.

    Parameters
    ----------
    inputs : ndarray, (n, k)
        The layer's int8 inputs, one row per sample.
    weights : ndarray, (k, m)
        Its int8 weights.
    """

    inputs: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        self.inputs = np.asarray(self.inputs)
        self.weights = np.asarray(self.weights)
        x, w = self.inputs, self.weights
        if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
            raise ArgumentError(f"IntermediateLayerResults: inputs {x.shape} and weights {w.shape} do not multiply")

    @property
    def fan_in(self) -> int:
        """Products summed into each output (``k``)."""
        return int(self.weights.shape[0])

    @property
    def outputs(self) -> np.ndarray:
        """The exact accumulations ``x @ w``, (n, m)."""
        return self.inputs.astype(np.float64) @ self.weights.astype(np.float64)


def select_layer_multiplier(intermediate_results: IntermediateLayerResults,
                            multipliers: Union[Mapping[str, ApproxMultiplier], Iterable[ApproxMultiplier]],
                            max_noise: float, num_samples: int = 512) -> Tuple[str, float]:
    """The cheapest multiplier whose estimated output error fits the allowed noise.

    Parameters
    ----------
    intermediate_results : IntermediateLayerResults
        The layer's int8 inputs and weights from a run with exact multipliers.
    multipliers : list of ApproxMultiplier, or mapping name -> ApproxMultiplier
    max_noise : float
        Allowed output error std as a fraction of ``std(exact layer output)``.
    num_samples : int, default 512
        Input rows (at most, drawn without replacement with a fixed seed) used for the
        histograms and the exact output's spread.

    Returns
    -------
    (name, metric)
        The chosen multiplier's name and its ``performance_metric`` (the proxy cost,
        see the module docstring). An exact multiplier (zero error) always fits when
        offered; when none fits, the one with the smallest estimated error is taken.
    """
    owner = "select_layer_multiplier"
    if not isinstance(intermediate_results, IntermediateLayerResults):
        raise ArgumentTypeError(f"{owner}: intermediate_results must be an IntermediateLayerResults, "
                                f"got {type(intermediate_results).__name__}")
    mults = list(_library(multipliers, owner).values())
    max_noise = check_number(max_noise, "max_noise", owner, low=0.0)
    num_samples = check_positive_int(num_samples, "num_samples", owner)
    x, w = intermediate_results.inputs, intermediate_results.weights
    if len(x) > num_samples:
        x = x[np.random.default_rng(0).choice(len(x), num_samples, replace=False)]
    px = _hist(x, f"{owner}: inputs")
    pw = _hist(w, f"{owner}: weights")
    exact_std = float(np.std(x.astype(np.float64) @ w.astype(np.float64)))
    allowed = max_noise * exact_std
    err = {m.name: estimate_error_std(px, pw, m, intermediate_results.fan_in) for m in mults}
    fits = [m for m in mults if err[m.name] <= allowed]
    if not fits:
        best = min(mults, key=lambda m: err[m.name])
    else:
        best = min(fits, key=lambda m: (m.performance_metric, err[m.name]))
    return best.name, best.performance_metric


@dataclass
class LayerInfo:
    """The multiplier chosen for one layer.

    Parameters
    ----------
    name : str
        The layer.
    multiplier_name : str
    multiplier_performance_metric : float
        The multiplier's energy figure (its proxy cost).
    opcount : float
        Multiplications of the layer (per sample).
    """

    name: str
    multiplier_name: str
    multiplier_performance_metric: float
    opcount: float

    def relative_opcount(self, total_opcount: float) -> float:
        """Share of the model's ``total_opcount`` operations done in this layer (0..1)."""
        return self.opcount / check_number(total_opcount, "total_opcount", "LayerInfo.relative_opcount",
                                           low=0.0, low_open=True)

    def relative_energy_consumption(self, metric_max: float) -> float:
        """Energy per multiplication of the chosen multiplier relative to ``metric_max``
        (the reference multiplier's figure): 0 costs nothing, 1 as much as the reference."""
        return self.multiplier_performance_metric / check_number(
            metric_max, "metric_max", "LayerInfo.relative_energy_consumption", low=0.0, low_open=True)


@dataclass
class MatchingInfo:
    """Multipliers chosen for a whole model.

    Parameters
    ----------
    layers : list of LayerInfo
    metric_max : float
        Energy figure of the reference (exact) multiplier.
    opcount : float, optional
        Operations of the whole model; the sum of the layers' when omitted.
    """

    layers: List[LayerInfo]
    metric_max: float
    opcount: Optional[float] = None

    def __post_init__(self) -> None:
        if not self.layers:
            raise ArgumentError("MatchingInfo: no layers")
        self.metric_max = check_number(self.metric_max, "metric_max", "MatchingInfo", low=0.0, low_open=True)
        if self.opcount is None:
            self.opcount = float(sum(l.opcount for l in self.layers))
        self.opcount = check_number(self.opcount, "opcount", "MatchingInfo", low=0.0, low_open=True)

    @property
    def relative_energy_consumption(self) -> float:
        """Model energy relative to all-reference multipliers: each layer's
        :meth:`LayerInfo.relative_energy_consumption`, weighted by its share of the
        model's operations, summed."""
        return float(sum(l.relative_energy_consumption(self.metric_max) * l.relative_opcount(self.opcount)
                         for l in self.layers))


def _run_sampling(model: Any, datamodule: Any) -> Mapping[str, IntermediateLayerResults]:
    return model.intermediate_results(datamodule)


def select_multipliers(model: Any, datamodule: Any = "train",
                       multipliers: Union[Mapping[str, ApproxMultiplier], Iterable[ApproxMultiplier], None] = None,
                       trainer: Optional[Callable[[Any, Any], Mapping[str, IntermediateLayerResults]]] = None, *,
                       max_noise: Union[float, Mapping[str, float]] = 0.05,
                       num_samples: int = 512) -> MatchingInfo:
    """:func:`select_layer_multiplier` for every layer of a model (agnapprox's signature).

    Parameters
    ----------
    model : DigitsNet or alike
        Has ``layer_names``, ``opcounts`` (layer -> multiplications) and, unless a
        ``trainer`` is given, ``intermediate_results(datamodule)``.
    datamodule : default "train"
        The data the sampling run is fed: for :class:`~adatune.approx.digits.DigitsNet`
        a split name or an array of raw inputs (stands in for a Lightning data module).
    multipliers : optional
        Default :func:`default_multipliers`.
    trainer : callable, optional
        ``trainer(model, datamodule) -> {layer: IntermediateLayerResults}`` runs the
        sampling pass (stands in for a Lightning trainer); default
        ``model.intermediate_results(datamodule)``.
    max_noise : float or mapping layer -> float, default 0.05
        Allowed noise per layer (agnapprox learns it per layer during training; our
        models do not, so it is given).
    num_samples : int, default 512
        As in :func:`select_layer_multiplier`.
    """
    owner = "select_multipliers"
    lib = _library(default_multipliers() if multipliers is None else multipliers, owner)
    check_callable(trainer, "trainer", owner, allow_none=True)
    names = list(model.layer_names)
    if isinstance(max_noise, Mapping):
        missing = [n for n in names if n not in max_noise]
        if missing:
            raise ArgumentError(f"{owner}: max_noise names no value for layers {missing}")
        noise = {n: max_noise[n] for n in names}
    else:
        noise = {n: max_noise for n in names}
    results = (trainer or _run_sampling)(model, datamodule)
    missing = [n for n in names if n not in results]
    if missing:
        raise ArgumentError(f"{owner}: the sampling run gave no results for layers {missing}")
    opcounts = model.opcounts
    infos = [LayerInfo(n, *select_layer_multiplier(results[n], lib, noise[n], num_samples), float(opcounts[n]))
             for n in names]
    return MatchingInfo(infos, metric_max=max(m.performance_metric for m in lib.values()),
                        opcount=float(sum(opcounts[n] for n in names)))


def deploy_multipliers(model: Any, matching_result: MatchingInfo,
                       library: Union[Mapping[str, ApproxMultiplier], Iterable[ApproxMultiplier]]) -> None:
    """Make each layer of ``model`` multiply with the multiplier ``matching_result`` chose.

    Parameters
    ----------
    model : DigitsNet or alike
        Has ``layer_names`` and a ``layer_multipliers`` dict (layer -> multiplier) its
        forward pass reads.
    matching_result : MatchingInfo
    library : mapping name -> ApproxMultiplier, or iterable of them
        Where the chosen multipliers' tables are looked up by name.

    Nothing is changed when a layer or a multiplier is unknown.
    """
    owner = "deploy_multipliers"
    if not isinstance(matching_result, MatchingInfo):
        raise ArgumentTypeError(f"{owner}: matching_result must be a MatchingInfo, got "
                                f"{type(matching_result).__name__}")
    lib = _library(library, owner)
    names = set(model.layer_names)
    chosen = {}
    for layer in matching_result.layers:
        if layer.name not in names:
            raise ArgumentError(f"{owner}: the model has no layer {layer.name!r}; it has {list(model.layer_names)}")
        if layer.multiplier_name not in lib:
            raise ArgumentError(f"{owner}: layer {layer.name!r}: multiplier {layer.multiplier_name!r} is not in "
                                f"the library {sorted(lib)}")
        chosen[layer.name] = lib[layer.multiplier_name]
    model.layer_multipliers.update(chosen)
