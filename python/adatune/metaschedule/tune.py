"""``tune_tir`` and ``tune_relax``: MetaSchedule tuning with adatune's parts, one call.

Drop-in for ``tvm.s_tir.meta_schedule.tune_tir``/``relax_integration.tune_relax``: same
arguments and the same MetaSchedule database (JSON by default, in ``work_dir``), so TVM's
own apply-database passes use the result unchanged.  What changes are the defaults:
:class:`RFEICostModel`, :class:`DynamicEpsilonSearch`, the adaptive local runner and
:class:`FastBuilder`, and the tensor-intrinsics import skipped for targets whose design
space does not use them.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterator, Optional, Union

from ._intrin import skip_tensor_intrin_import
from .._checks import check_bool, check_choice, check_positive_int
from ..errors import ArgumentError, ArgumentTypeError

logger = logging.getLogger(__name__)

__all__ = ["tune_tir", "tune_relax", "SUPPORTED_TARGET_KINDS", "count_tunable_blocks"]

#: Target kinds ``tune_tir`` accepts (CPU via LLVM; GPUs need a matching runner).
SUPPORTED_TARGET_KINDS = ("llvm", "cuda", "rocm", "vulkan", "metal", "opencl")
_COST_MODELS = ("rfei", "xgb", "random")
_STRATEGIES = ("dynamic-eps", "evolutionary", "replay-trace")


@contextlib.contextmanager
def _unnamed_handlers_detached() -> Iterator[None]:
    """MetaSchedule rebuilds its logging config from the names of the handlers on its
    (non-propagating) logger at every tuning call and fails on an unnamed one, such as
    those pytest's log capture attaches.  Detach them for the call."""
    ms_logger = logging.getLogger("tvm.s_tir.meta_schedule")
    unnamed = [h for h in ms_logger.handlers if h.get_name() is None]
    for h in unnamed:
        ms_logger.removeHandler(h)
    try:
        yield
    finally:
        for h in unnamed:
            ms_logger.addHandler(h)


def _check_target(target: Any):
    import tvm

    try:
        target = target if isinstance(target, tvm.target.Target) else tvm.target.Target(target)
    except Exception as err:
        raise ArgumentError(f"target: cannot parse {target!r}: {err}") from None
    if target.kind.name not in SUPPORTED_TARGET_KINDS:
        raise ArgumentError(f"target: kind {target.kind.name!r} is not supported by MetaSchedule tuning "
                            f"here; use one of {', '.join(SUPPORTED_TARGET_KINDS)}")
    if target.kind.name == "llvm" and target.attrs.get("num-cores") is None:
        raise ArgumentError("target: an llvm target needs 'num-cores' for MetaSchedule, e.g. "
                            "tvm.target.Target({'kind': 'llvm', 'num-cores': 2})")
    return target


def count_tunable_blocks(mod: Any) -> int:
    """Blocks directly under the root block, summed over the module's PrimFuncs."""
    from tvm import tirx
    from tvm.s_tir import Schedule

    count = 0
    for gv, func in mod.functions_items():
        if isinstance(func, tirx.PrimFunc):
            sch = Schedule(mod)
            try:
                root = sch.get_sblock("root", func_name=gv.name_hint)
            except Exception:  # a function without a root block has nothing to schedule
                continue
            count += len(sch.get_child_blocks(root))
    return count


def _normalize_mod(mod: Any):
    import tvm
    from tvm import tirx

    if isinstance(mod, tirx.PrimFunc):
        mod = tvm.IRModule({"main": mod.with_attr("global_symbol", "main")
                            if not mod.attrs or "global_symbol" not in mod.attrs else mod})
    if not isinstance(mod, tvm.IRModule):
        raise ArgumentTypeError(f"mod must be a tvm.IRModule or tirx.PrimFunc, got {type(mod).__name__}")
    if count_tunable_blocks(mod) == 0:
        raise ArgumentError("mod has no tunable blocks: none of its PrimFuncs computes anything "
                            "(only the root block)")
    return mod


def _make_parts(cost_model, strategy, runner, builder, min_converge_coef, seed, num_workers):
    from .builder import FastBuilder
    from .cost_model import RFEICostModel
    from .runner import adaptive_local_runner
    from .search import DynamicEpsilonSearch

    if isinstance(cost_model, str):
        check_choice(cost_model, "cost_model", _COST_MODELS)
        cost_model = RFEICostModel(seed=seed) if cost_model == "rfei" else cost_model
    if isinstance(strategy, str):
        check_choice(strategy, "strategy", _STRATEGIES)
        strategy = DynamicEpsilonSearch(seed=seed) if strategy == "dynamic-eps" else strategy
    if isinstance(strategy, DynamicEpsilonSearch) and isinstance(cost_model, RFEICostModel) \
            and strategy.uncertainty_model is None:
        strategy.set_uncertainty_model(cost_model)
    if runner is None:
        runner = adaptive_local_runner(min_converge_coef=min_converge_coef)
    elif min_converge_coef != 0.1:
        logger.warning("min_converge_coef is ignored: a runner was passed")
    if builder is None:
        builder = FastBuilder(max_workers=num_workers)
    return cost_model, strategy, runner, builder


def _with_confirmation(ms_options: dict, confirm: bool, runner: Any, work_dir: str) -> dict:
    """``ms_options`` with measure callbacks that confirm new bests (see :mod:`.confirm`)."""
    import tvm.s_tir.meta_schedule as ms

    from .confirm import ConfirmedAddToDatabase, confirming_runner

    confirm = check_bool(confirm, "confirm", "tune")
    if not confirm or "measure_callbacks" in ms_options:
        if confirm:
            logger.warning("confirm is ignored: measure_callbacks were passed")
        return ms_options
    return dict(ms_options, measure_callbacks=[
        ConfirmedAddToDatabase(confirming_runner(runner), work_dir),
        ms.measure_callback.RemoveBuildArtifact(), ms.measure_callback.UpdateCostModel()])


def tune_tir(mod: Any, target: Any, work_dir: str, max_trials_global: int, *,
             max_trials_per_task: Optional[int] = None, num_trials_per_iter: int = 64,
             cost_model: Union[str, Any] = "rfei", strategy: Union[str, Any] = "dynamic-eps",
             min_converge_coef: float = 0.1, runner: Any = None, builder: Any = None,
             database: Union[str, Any] = "json", num_tuning_cores: Union[str, int] = "physical",
             seed: Optional[int] = None, confirm: bool = True, **ms_options: Any):
    """Tune a TIR PrimFunc or IRModule with MetaSchedule and adatune's parts.

    Parameters
    ----------
    mod : tvm.IRModule or tirx.PrimFunc
        What to tune; it must contain at least one block besides the root.
    target : tvm.target.Target or dict
        A target of :data:`SUPPORTED_TARGET_KINDS`; llvm targets need ``num-cores``.
    work_dir : str
        Logs and the JSON database (``database_workload.json``, ``database_tuning_record.json``).
    max_trials_global : int
        Candidates measured in total.
    max_trials_per_task, num_trials_per_iter :
        As in ``ms.tune_tir``.
    cost_model : {"rfei", "xgb", "random"} or CostModel
        ``"rfei"``: :class:`RFEICostModel`.
    strategy : {"dynamic-eps", "evolutionary", "replay-trace"} or SearchStrategy
        ``"dynamic-eps"``: :class:`DynamicEpsilonSearch`.
    min_converge_coef : float
        Stopping threshold of the adaptive evaluator (when ``runner`` is not given).
    runner, builder : optional
        Default: :func:`adaptive_local_runner` and :class:`FastBuilder`.
    database, num_tuning_cores, seed, **ms_options :
        Passed to ``ms.tune_tir``.
    confirm : bool, default True
        Re-time a candidate that beats its workload's best in the database before
        committing it, and commit the confirmation
        (:class:`adatune.metaschedule.confirm.ConfirmedAddToDatabase` in place of
        MetaSchedule's ``AddToDatabase``; first readings go to
        ``work_dir/confirmations.jsonl``).  Ignored when ``measure_callbacks`` is passed.

    Returns
    -------
    tvm.s_tir.meta_schedule.database.Database
        The database with every tuning record.

    Raises
    ------
    ValueError
        For an unsupported target, a module without tunable blocks, or bad options.
    """
    import tvm.s_tir.meta_schedule as ms

    target = _check_target(target)
    mod = _normalize_mod(mod)
    check_positive_int(max_trials_global, "max_trials_global", "tune_tir")
    check_positive_int(num_trials_per_iter, "num_trials_per_iter", "tune_tir")
    workers = num_tuning_cores if isinstance(num_tuning_cores, int) else None
    with skip_tensor_intrin_import(target), _unnamed_handlers_detached():
        own_builder = builder is None
        parts = _make_parts(cost_model, strategy, runner, builder, min_converge_coef, seed, workers)
        cost_model, strategy, runner, builder = parts
        ms_options = _with_confirmation(ms_options, confirm, runner, work_dir)
        try:
            return ms.tune_tir(mod, target, work_dir, max_trials_global,
                               max_trials_per_task=max_trials_per_task,
                               num_trials_per_iter=num_trials_per_iter, builder=builder,
                               runner=runner, database=database, cost_model=cost_model,
                               strategy=strategy, num_tuning_cores=num_tuning_cores, seed=seed,
                               **ms_options)
        finally:
            if own_builder:
                builder.close()  # its worker processes would otherwise wait for the GC


def tune_relax(mod: Any, params: Optional[dict], target: Any, work_dir: str, max_trials_global: int, *,
               max_trials_per_task: Optional[int] = None, num_trials_per_iter: int = 64,
               cost_model: Union[str, Any] = "rfei", strategy: Union[str, Any] = "dynamic-eps",
               min_converge_coef: float = 0.1, runner: Any = None, builder: Any = None,
               database: Union[str, Any] = "json", seed: Optional[int] = None, legalize: bool = True,
               confirm: bool = True, **ms_options: Any):
    """Tune every task of a Relax module (``ms.relax_integration.tune_relax`` with adatune's parts).

    MetaSchedule tunes the TIR functions a Relax module calls; with ``legalize`` (default)
    high-level operators are first lowered by ``relax.transform.LegalizeOps``, and the
    tuned module must be legalized the same way before the database is applied
    (``relax.transform.MetaScheduleApplyDatabase(work_dir)``).  Other arguments as in
    :func:`tune_tir` (``confirm`` included); ``params`` binds constant parameters (or ``None``).
    """
    import tvm
    from tvm import relax, tirx
    from tvm.s_tir.meta_schedule.relax_integration import tune_relax as _ms_tune_relax

    target = _check_target(target)
    check_positive_int(max_trials_global, "max_trials_global", "tune_relax")
    if isinstance(mod, relax.Function):
        mod = tvm.IRModule({"main": mod})
    if not isinstance(mod, tvm.IRModule):
        raise ArgumentError(f"mod must be a tvm.IRModule or relax.Function, got {type(mod).__name__}")
    if legalize:
        mod = relax.transform.LegalizeOps()(mod)
    if not any(isinstance(f, tirx.PrimFunc) for _, f in mod.functions_items()):
        raise ArgumentError("mod has no TIR functions to tune (pass legalize=True, or lower it first)")
    if count_tunable_blocks(mod) == 0:
        raise ArgumentError("mod has no tunable blocks in its TIR functions")
    with skip_tensor_intrin_import(target), _unnamed_handlers_detached():
        own_builder = builder is None
        cost_model, strategy, runner, builder = _make_parts(
            cost_model, strategy, runner, builder, min_converge_coef, seed, None)
        ms_options = _with_confirmation(ms_options, confirm, runner, work_dir)
        try:
            return _ms_tune_relax(mod, params or {}, target, work_dir, max_trials_global,
                                  max_trials_per_task=max_trials_per_task,
                                  num_trials_per_iter=num_trials_per_iter, builder=builder,
                                  runner=runner, database=database, cost_model=cost_model,
                                  strategy=strategy, seed=seed, **ms_options)
        finally:
            if own_builder:
                builder.close()
