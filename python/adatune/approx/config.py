"""A measured configuration and its plain-JSON form."""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

__all__ = ["Config", "dump_configs", "load_configs"]

_FORMAT = "adatune.approx.configs/1"


class Config:
    """One configuration with its measured QoS and relative cost.

    Parameters
    ----------
    qos : float
        QoS on the tuning inputs.
    cost : float
        Cost relative to the baseline configuration (baseline = 1.0).
    knobs : mapping of str to str
        Operator -> knob name.
    test_qos : float, optional
        QoS on the held-apart test inputs, once measured.
    """

    __slots__ = ("qos", "cost", "knobs", "test_qos")

    def __init__(self, qos: float, cost: float, knobs: Mapping[str, str], test_qos: Optional[float] = None):
        qos, cost = float(qos), float(cost)
        if not math.isfinite(qos):
            raise ValueError(f"Config: qos must be finite, got {qos}")
        if not (math.isfinite(cost) and cost > 0):
            raise ValueError(f"Config: cost must be finite and > 0, got {cost}")
        if not isinstance(knobs, Mapping):
            raise ValueError(f"Config: knobs must map operator -> knob name, got {knobs!r}")
        self.qos = qos
        self.cost = cost
        self.knobs: Dict[str, str] = {str(k): str(v) for k, v in knobs.items()}
        self.test_qos = None if test_qos is None else float(test_qos)

    @property
    def speedup(self) -> float:
        """``1 / cost``: how much cheaper than the baseline."""
        return 1.0 / self.cost

    def to_dict(self) -> Dict[str, Any]:
        return {"qos": self.qos, "cost": self.cost, "test_qos": self.test_qos, "knobs": dict(self.knobs)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "config") -> "Config":
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: expected an object, got {type(d).__name__}")
        try:
            return cls(d["qos"], d["cost"], d["knobs"], d.get("test_qos"))
        except KeyError as e:
            raise ValueError(f"{where}: missing field {e.args[0]!r}") from None
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: {e}") from None

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Config) and self.qos == other.qos and self.cost == other.cost
                and self.knobs == other.knobs and self.test_qos == other.test_qos)

    def __hash__(self) -> int:
        return hash((self.qos, self.cost, tuple(sorted(self.knobs.items()))))

    def __repr__(self) -> str:
        test = "" if self.test_qos is None else f", test_qos={self.test_qos:.4g}"
        return f"Config(qos={self.qos:.4g}, speedup={self.speedup:.4g}{test}, knobs={self.knobs})"


def dump_configs(configs: Iterable[Config], path: Union[str, os.PathLike],
                 meta: Optional[Mapping[str, Any]] = None) -> None:
    """Write ``configs`` to ``path`` as plain JSON (``meta`` stored alongside)."""
    payload = {"format": _FORMAT, "meta": dict(meta or {}), "configs": [c.to_dict() for c in configs]}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=1)


def load_configs(path: Union[str, os.PathLike]) -> List[Config]:
    """Read configurations written by :func:`dump_configs` (or a bare JSON list of them)."""
    try:
        with open(path, encoding="utf-8") as f:
            payload = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"load_configs: no such file: {path}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"load_configs: {path}: not JSON (line {e.lineno}: {e.msg})") from None
    items = payload.get("configs") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise ValueError(f"load_configs: {path}: expected a list of configs under 'configs'")
    return [Config.from_dict(d, where=f"{path}: config #{i}") for i, d in enumerate(items)]
