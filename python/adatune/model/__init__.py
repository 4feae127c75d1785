"""Whole-model tuning: a model in, a tuned, verified, deployable model out.

``adatune.tune_model(model, work_dir=..., trials=...)`` imports an ONNX file, a Relax
module or a torch module, tunes its kernels (templates where they apply, MetaSchedule
for the rest) under one trial budget, verifies the result and writes ``model.so``.
See docs/models.md.
"""
from .frontend import ImportedModel, InputSpec, ModelImportError, import_model, parse_input_spec
from .kernels import KernelMatch, match_kernel
from .scheduler import TaskScheduler
from .tune import ModelVerificationError, NoTunableKernelError, SPACES, tune_model
from .tune_tasks import tune_tasks
from .tuned import LayerProfile, TaskReport, TunedModel

__all__ = ["tune_model", "tune_tasks", "TunedModel", "TaskReport", "LayerProfile", "import_model", "ImportedModel", "InputSpec",
           "parse_input_spec", "match_kernel", "KernelMatch", "TaskScheduler", "SPACES",
           "ModelImportError", "ModelVerificationError", "NoTunableKernelError"]
