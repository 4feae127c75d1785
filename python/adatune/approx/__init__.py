"""General application autotuning: ApproxApp / ApproxTuner and approximate multipliers.

Any program whose operators each have a choice of approximations (knobs) is tuned for
the configurations that are cheapest at each quality-of-service level. Never imports TVM.
"""
from .app import ApproxApp, KnobsT
from .config import Config, dump_configs, load_configs
from .knobs import BASELINE_KNOB_NAME, ApproxKnob, BaselineKnob
from .pareto import dominates, hypervolume, pareto_front, pareto_mask, take_best_n
from .search import ConstrainedEISearch, RegistrySearch, SearchStrategy
from .tuner import ApproxTuner
from .predictive import AdditiveQoSModel, LinearCostModel, ModeledApp, PredictiveApproxTuner
from .synthetic import SyntheticApp
from .multipliers import (ApproxMultiplier, IntermediateLayerResults, LayerInfo, MatchingInfo, default_multipliers,
                          deploy_multipliers, estimate_error_std, lut_matmul, make_multiplier,
                          select_layer_multiplier, select_multipliers)
from .digits import DigitsApp, DigitsNet

__all__ = [
    "ApproxKnob", "BaselineKnob", "BASELINE_KNOB_NAME",
    "ApproxApp", "KnobsT",
    "Config", "dump_configs", "load_configs",
    "ApproxTuner", "SearchStrategy", "ConstrainedEISearch", "RegistrySearch",
    "dominates", "pareto_mask", "pareto_front", "take_best_n", "hypervolume",
    "ModeledApp", "PredictiveApproxTuner", "LinearCostModel", "AdditiveQoSModel",
    "SyntheticApp",
    "ApproxMultiplier", "make_multiplier", "default_multipliers", "lut_matmul", "estimate_error_std",
    "IntermediateLayerResults", "select_layer_multiplier", "select_multipliers", "LayerInfo", "MatchingInfo",
    "deploy_multipliers",
    "DigitsApp", "DigitsNet",
]
