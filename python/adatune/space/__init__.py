"""Config spaces: knobs, configs as mixed-radix indices, features. Knows nothing of TVM.

See ``docs/architecture.md`` ("Space") for the contract templates and tuners rely on.
"""
from .config import ENUMERATE_LIMIT, ConfigEntity, ConfigSpace, space_from_records
from .knobs import (
    AnnotateEntity,
    AnnotateKnob,
    ChoiceEntity,
    ChoiceKnob,
    Knob,
    ReorderEntity,
    ReorderKnob,
    SplitEntity,
    SplitKnob,
    factors_of,
    powers_of_two,
)

__all__ = [
    "ConfigSpace",
    "ConfigEntity",
    "ENUMERATE_LIMIT",
    "Knob",
    "SplitKnob",
    "ChoiceKnob",
    "ReorderKnob",
    "AnnotateKnob",
    "SplitEntity",
    "ChoiceEntity",
    "ReorderEntity",
    "AnnotateEntity",
    "factors_of",
    "powers_of_two",
    "space_from_records",
]
