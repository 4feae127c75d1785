"""Tuning logs -> feature tables for offline cost-model training (no TVM needed).

:func:`featurize_log` writes ``OUT/<target>/<task>.csv`` plus ``<task>.meta.json``;
:class:`FeatureEncoder` featurizes new records the same way from that metadata.
"""
from .encoder import FeatureEncoder
from .features import LABEL_GFLOPS, LABEL_INV_COST, label_of, record_features, record_values
from .flops import estimate_flops
from .pipeline import META_VERSION, FeaturizeResult, featurize_log

__all__ = ["FeatureEncoder", "LABEL_GFLOPS", "LABEL_INV_COST", "label_of",
           "record_features", "record_values", "estimate_flops", "META_VERSION", "FeaturizeResult",
           "featurize_log"]
