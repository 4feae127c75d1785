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
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

import numpy as np

__all__ = [
    "ApproxMultiplier", "make_multiplier", "default_multipliers", "lut_matmul",
    "estimate_error_std", "select_layer_multiplier", "LayerInfo", "MatchingInfo", "select_multipliers",
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
        table = np.asarray(table)
        if table.shape != (256, 256):
            raise ValueError(f"ApproxMultiplier({name!r}): table must be 256x256, got {table.shape}")
        if not 0.0 < float(cost) <= 1.0:
            raise ValueError(f"ApproxMultiplier({name!r}): cost must lie in (0, 1], got {cost}")
        self.name = str(name)
        self.table = table.astype(np.int32)
        self.cost = float(cost)

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
    if not (0 <= hbl < _BITS and 0 <= vbl < 2 * _BITS - 1):
        raise ValueError(f"make_multiplier({name!r}): need 0 <= hbl < 8 and 0 <= vbl < 15, got {hbl}, {vbl}")
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
        raise ValueError(f"lut_matmul: shapes {x.shape} and {w.shape} do not multiply")
    if x.min(initial=0) < -128 or x.max(initial=0) > 127 or w.min(initial=0) < -128 or w.max(initial=0) > 127:
        raise ValueError("lut_matmul: operands must be int8 values in [-128, 127]")
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
        raise ValueError(f"{where}: no values")
    if v.min() < -128 or v.max() > 127 or not np.all(np.equal(np.mod(v, 1), 0)):
        raise ValueError(f"{where}: values must be int8 integers in [-128, 127]")
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


def select_layer_multiplier(layer_inputs: np.ndarray, layer_weights: np.ndarray,
                            multipliers: Union[Mapping[str, ApproxMultiplier], Iterable[ApproxMultiplier]],
                            max_noise: float, num_samples: int = 512) -> Tuple[str, float]:
    """The cheapest multiplier whose estimated output error fits the allowed noise.

    Parameters
    ----------
    layer_inputs : ndarray, (n, k) int8 values
        Quantised inputs of the layer (rows are samples).
    layer_weights : ndarray, (k, m) int8 values
    multipliers : mapping name -> ApproxMultiplier, or iterable of them
    max_noise : float
        Allowed output error std as a fraction of ``std(exact layer output)``.
    num_samples : int, default 512
        Input rows (at most) used for the histograms and the exact output's spread.

    Returns
    -------
    (name, metric)
        The chosen multiplier's name and its cost figure (a proxy, see the module
        docstring). An exact multiplier (zero error) always fits when offered.
    """
    mults = list(multipliers.values()) if isinstance(multipliers, Mapping) else list(multipliers)
    if not mults:
        raise ValueError("select_layer_multiplier: no multipliers given")
    if not (np.isfinite(max_noise) and max_noise >= 0):
        raise ValueError(f"select_layer_multiplier: max_noise must be finite and >= 0, got {max_noise}")
    x = np.asarray(layer_inputs)
    w = np.asarray(layer_weights)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(f"select_layer_multiplier: inputs {x.shape} and weights {w.shape} do not multiply")
    if num_samples < 1:
        raise ValueError(f"select_layer_multiplier: num_samples must be >= 1, got {num_samples}")
    if len(x) > num_samples:
        x = x[np.random.default_rng(0).choice(len(x), num_samples, replace=False)]
    px = _hist(x, "select_layer_multiplier: layer_inputs")
    pw = _hist(w, "select_layer_multiplier: layer_weights")
    exact_std = float(np.std(x.astype(np.float64) @ w.astype(np.float64)))
    allowed = max_noise * exact_std
    fits = [m for m in mults if estimate_error_std(px, pw, m, x.shape[1]) <= allowed]
    if not fits:
        best = min(mults, key=lambda m: estimate_error_std(px, pw, m, x.shape[1]))
        return best.name, best.cost
    best = min(fits, key=lambda m: (m.cost, estimate_error_std(px, pw, m, x.shape[1])))
    return best.name, best.cost


@dataclass
class LayerInfo:
    """A layer's chosen multiplier.

    ``relative_opcount`` (share of the model's multiplications) and
    ``relative_energy_consumption`` (``relative_opcount * metric / metric_max``) are
    filled in by :class:`MatchingInfo`.
    """

    name: str
    multiplier_name: str
    multiplier_performance_metric: float
    opcount: float
    relative_opcount: Optional[float] = field(default=None)
    relative_energy_consumption: Optional[float] = field(default=None)


@dataclass
class MatchingInfo:
    """Multipliers chosen for a whole model.

    Parameters
    ----------
    layers : list of LayerInfo
    metric_max : float
        Cost figure of the reference (exact) multiplier.
    opcount : float
        Multiplications of the whole model (the sum over layers when 0).
    """

    layers: List[LayerInfo]
    metric_max: float
    opcount: float = 0.0

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("MatchingInfo: no layers")
        if not self.metric_max > 0:
            raise ValueError(f"MatchingInfo: metric_max must be > 0, got {self.metric_max}")
        if not self.opcount:
            self.opcount = float(sum(l.opcount for l in self.layers))
        for l in self.layers:
            l.relative_opcount = l.opcount / self.opcount
            l.relative_energy_consumption = l.relative_opcount * l.multiplier_performance_metric / self.metric_max

    @property
    def relative_energy_consumption(self) -> float:
        """Model energy relative to all-exact multipliers (same proxy as the metric)."""
        return float(sum(l.relative_energy_consumption for l in self.layers))


def select_multipliers(layers: Mapping[str, Tuple[np.ndarray, np.ndarray]],
                       multipliers: Union[Mapping[str, ApproxMultiplier], Iterable[ApproxMultiplier], None] = None,
                       max_noise: float = 0.05, num_samples: int = 512,
                       opcounts: Optional[Mapping[str, float]] = None) -> MatchingInfo:
    """:func:`select_layer_multiplier` for every layer of a model.

    Parameters
    ----------
    layers : mapping name -> (inputs (n, k), weights (k, m))
        Quantised operands of each layer, in model order.
    multipliers : optional
        Default :func:`default_multipliers`.
    max_noise, num_samples
        As in :func:`select_layer_multiplier`.
    opcounts : mapping name -> float, optional
        Multiplications per layer; default ``k * m`` (one input row).
    """
    mults = default_multipliers() if multipliers is None else multipliers
    mult_list = list(mults.values()) if isinstance(mults, Mapping) else list(mults)
    if not layers:
        raise ValueError("select_multipliers: no layers")
    infos = []
    for name, pair in layers.items():
        try:
            x, w = pair
        except (TypeError, ValueError):
            raise ValueError(f"select_multipliers: layer {name!r} must be (inputs, weights)") from None
        mname, metric = select_layer_multiplier(x, w, mult_list, max_noise, num_samples)
        ops = float(opcounts[name]) if opcounts and name in opcounts else float(np.shape(w)[0] * np.shape(w)[1])
        infos.append(LayerInfo(name, mname, metric, ops))
    return MatchingInfo(infos, metric_max=max(m.cost for m in mult_list))
