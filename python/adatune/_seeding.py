"""Seeds for the components of a seeded object (a tuner's forest, its annealer, ...)."""
from __future__ import annotations

from typing import Optional, Union

import numpy as np

__all__ = ["sub_seed", "as_generator"]

SeedLike = Union[None, int, np.random.Generator]


def as_generator(seed: SeedLike) -> np.random.Generator:
    """``seed`` itself when it is a Generator, else a new Generator seeded with it."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def sub_seed(seed: SeedLike, k: int) -> Optional[int]:
    """An int seed for component ``k`` of an object seeded with ``seed``.

    ``None`` stays ``None`` (unseeded everywhere). An int gives a fixed, distinct seed
    per ``k``. A Generator gives one drawn from it, so a component of an object seeded
    with ``default_rng(0)`` is as reproducible as the object (its draws come in the
    same order every run).
    """
    if seed is None:
        return None
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2 ** 31))
    return (int(seed) * 1000003 + int(k)) % (2 ** 31)
