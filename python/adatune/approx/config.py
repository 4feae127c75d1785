"""A measured configuration and its plain-JSON form."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

from .._checks import check_mapping, check_number
from ..errors import ArgumentError, ArgumentTypeError, RecordError

__all__ = ["Config", "dump_configs", "load_configs"]

_FORMAT = "adatune.approx.configs/1"


class Config:
    """One configuration with its measured QoS and relative cost.

    Parameters
    ----------
    qos : float
        QoS on the tuning inputs.
    cost : float
        Cost relative to the baseline configuration (baseline = 1.0), ``1 / speedup``.
    knobs : mapping of str to str
        Operator -> knob name; stored sorted by operator name.
    test_qos : float, optional
        QoS on the held-apart test inputs, once measured.
    """

    __slots__ = ("qos", "cost", "knobs", "test_qos")

    def __init__(self, qos: float, cost: float, knobs: Mapping[str, str], test_qos: Optional[float] = None):
        self.qos = check_number(qos, "qos", "Config")
        self.cost = check_number(cost, "cost", "Config", low=0.0, low_open=True)
        check_mapping(knobs, "knobs", "Config")
        self.knobs: Dict[str, str] = {str(k): str(v) for k, v in sorted(knobs.items())}
        self.test_qos = check_number(test_qos, "test_qos", "Config", allow_none=True)

    @property
    def speedup(self) -> float:
        """``1 / cost``: how much cheaper than the baseline."""
        return 1.0 / self.cost

    def to_dict(self) -> Dict[str, Any]:
        """The JSON object :func:`dump_configs` writes."""
        return {"qos": self.qos, "cost": self.cost, "test_qos": self.test_qos, "knobs": dict(self.knobs)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "config") -> "Config":
        """The config of a :meth:`to_dict` object; :class:`~adatune.errors.RecordError` naming
        ``where`` when it is not one."""
        if not isinstance(d, Mapping):
            raise RecordError("not_object", f"{where}: expected an object, got {type(d).__name__}")
        try:
            return cls(d["qos"], d["cost"], d["knobs"], d.get("test_qos"))
        except KeyError as e:
            raise RecordError("missing_field", f"{where}: missing field {e.args[0]!r}") from None
        except ArgumentTypeError as e:
            raise RecordError("wrong_type", f"{where}: {e}") from None
        except ArgumentError as e:
            raise RecordError("bad_value", f"{where}: {e}") from None

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Config) and self.qos == other.qos and self.cost == other.cost
                and self.knobs == other.knobs and self.test_qos == other.test_qos)

    def __hash__(self) -> int:
        return hash((self.qos, self.cost, tuple(self.knobs.items())))

    def __repr__(self) -> str:
        test = "" if self.test_qos is None else f", test_qos={self.test_qos:.4g}"
        return f"Config(qos={self.qos:.4g}, speedup={self.speedup:.4g}{test}, knobs={self.knobs})"


def dump_configs(configs: Iterable[Config], path: Union[str, os.PathLike],
                 meta: Optional[Mapping[str, Any]] = None) -> None:
    """Write ``configs`` to ``path`` as plain JSON (``meta`` stored alongside); the
    parent directory is created when missing."""
    payload = {"format": _FORMAT, "meta": dict(meta or {}), "configs": [c.to_dict() for c in configs]}
    parent = os.path.dirname(os.fspath(path))
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=1)


def load_configs(path: Union[str, os.PathLike]) -> List[Config]:
    """Read configurations written by :func:`dump_configs` (or a bare JSON list of them).

    Raises :class:`~adatune.errors.RecordError` (a ``ValueError``) naming the file, and
    the line or config, when the content is not such a file.
    """
    with open(path, encoding="utf-8") as f:
        try:
            payload = json.load(f)
        except json.JSONDecodeError as e:
            raise RecordError("bad_json", f"load_configs: {path}: not JSON (line {e.lineno}: {e.msg})") from None
    items = payload.get("configs") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise RecordError("unknown_format", f"load_configs: {path}: expected a list of configs under 'configs'")
    return [Config.from_dict(d, where=f"{path}: config #{i}") for i, d in enumerate(items)]
