"""Tuners: the tuning loop, search strategies, cost models, epsilon policies, callbacks.

Knows nothing of how a candidate is built: tuners hand ``MeasureInput`` s to any
``MeasureBatch`` and learn from the ``MeasureResult`` s.
"""
from .callbacks import LogToFile, ProgressBar, log_to_file, progress_bar
from .cost_model import CostModel, ForestCostModel, records_to_training
from .epsilon import DEFAULT_EPS_RANGE, EpsilonPolicy, FixedEpsilon, UncertaintyEpsilon
from .droplet import DropletTuner
from .exhaustive import ExhaustiveOptimizer
from .forest import ForestEI, expected_improvement
from .ga import GATuner
from .grid_tuner import GridSearchTuner
from .model_based import ModelBasedTuner
from .random_tuner import RandomTuner
from .registry import TUNERS, create_tuner, tune
from .rfei import RFEI_EPS_RANGE, RFEITuner
from .sa import SimulatedAnnealingOptimizer
from .tuner import TuneSummary, Tuner, throughput
from .xgb_model import XGBoostCostModel
from .xgb_tuner import XGBTuner

__all__ = [
    "ExhaustiveOptimizer", "RFEI_EPS_RANGE",
    "Tuner", "TuneSummary", "throughput",
    "RandomTuner", "GridSearchTuner", "GATuner", "DropletTuner", "ModelBasedTuner", "XGBTuner", "RFEITuner",
    "CostModel", "ForestCostModel", "XGBoostCostModel", "records_to_training",
    "ForestEI", "expected_improvement",
    "EpsilonPolicy", "FixedEpsilon", "UncertaintyEpsilon", "DEFAULT_EPS_RANGE",
    "SimulatedAnnealingOptimizer",
    "TUNERS", "create_tuner", "tune",
    "log_to_file", "progress_bar", "LogToFile", "ProgressBar",
]
