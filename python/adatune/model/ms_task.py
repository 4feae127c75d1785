"""Tuning one kernel with MetaSchedule, one round at a time.

``ms.tune_tir`` runs a whole budget in one call and owns its task scheduler; a model's
scheduler instead hands out rounds, so this drives MetaSchedule's parts by hand: a
``TuneContext`` with adatune's :class:`~adatune.metaschedule.DynamicEpsilonSearch` and
:class:`~adatune.metaschedule.RFEICostModel`, the shared
:class:`~adatune.metaschedule.FastBuilder` and an adaptive runner. Every measured
candidate goes into a MetaSchedule JSON database in the task's folder (so TVM's own
tools read it), and the structural hash of every measured schedule into
``measured.txt``, so a resumed run re-fits the model on the database and never
measures a schedule twice.
"""
from __future__ import annotations

import logging
import math
import os
from typing import Any, List, Optional

__all__ = ["MetaScheduleKernelTuner"]

logger = logging.getLogger(__name__)

#: Candidates per call of the search strategy (and per round).
ROUND = 16
#: A budget no model run reaches: the model scheduler decides when to stop.
_UNBOUNDED = 1 << 30


class MetaScheduleKernelTuner:
    """Round-based MetaSchedule tuning of one TIR kernel.

    Parameters
    ----------
    func : tirx.PrimFunc
        The kernel, unscheduled.
    target : tvm.target.Target
    work_dir : str
        Folder of this kernel's database (created).
    builder, runner :
        MetaSchedule builder and runner (shared by the model's tasks).
    seed : int, optional
    confirm : bool, default True
        Re-time a candidate that beats the best before committing it (see
        :mod:`adatune.metaschedule.confirm`); the model scheduler then sees confirmed
        latencies.
    """

    def __init__(self, func: Any, target: Any, work_dir: str, builder: Any, runner: Any,
                 seed: Optional[int] = None, round_size: int = ROUND, confirm: bool = True):
        import tvm

        self.func = func.with_attr("global_symbol", "main")
        self.mod = tvm.IRModule({"main": self.func})
        self.target = tvm.target.Target(target)
        self.work_dir = work_dir
        self.builder = builder
        self.runner = runner
        self.seed = seed
        self.round_size = int(round_size)
        self._ctx = None
        self._db = None
        self._model = None
        self._strategy = None
        self._seen: set = set()
        self._exhausted = False
        self.best_latency = math.inf
        self.confirm = bool(confirm)
        self._confirm_runner = None

    # ------------------------------------------------------------------ set-up
    def _database(self) -> Any:
        import tvm.s_tir.meta_schedule as ms

        if self._db is None:
            os.makedirs(self.work_dir, exist_ok=True)
            self._db = ms.database.JSONDatabase(
                path_workload=os.path.join(self.work_dir, "database_workload.json"),
                path_tuning_record=os.path.join(self.work_dir, "database_tuning_record.json"))
        return self._db

    def _context(self) -> Any:
        import tvm.s_tir.meta_schedule as ms

        from ..metaschedule import DynamicEpsilonSearch, RFEICostModel, skip_tensor_intrin_import

        if self._ctx is None:
            self._model = RFEICostModel(seed=self.seed)
            self._strategy = DynamicEpsilonSearch(uncertainty_model=self._model, seed=self.seed)
            space, needs_intrin = self._space_generator()
            with skip_tensor_intrin_import(self.target, needed=needs_intrin):
                ctx = ms.TuneContext(self.mod, target=self.target, space_generator=space,
                                     search_strategy=self._strategy, task_name="main",
                                     num_threads=os.cpu_count() or 1,
                                     rand_state=-1 if self.seed is None else int(self.seed))
                ctx.pre_tuning(max_trials=_UNBOUNDED, num_trials_per_iter=self.round_size,
                               design_spaces=ctx.generate_design_space(), database=self._database(),
                               cost_model=self._model)
            self._strategy._seen.update(self._seen)
            self._ctx = ctx
        return self._ctx

    def _space_generator(self):
        """MetaSchedule's design space for the kernel, and whether it needs the tensor
        intrinsics. A CPU kernel without 8-bit integers gets the plain LLVM rules: the
        intrinsic rules an AVX-512 or VNNI target would add only tensorize int8 dot
        products, and importing them costs 25-40 s in this process."""
        import tvm.s_tir.meta_schedule as ms

        if self.target.kind.name == "llvm" and not self._has_int8():
            return ms.space_generator.PostOrderApply(sch_rules="llvm", postprocs="llvm",
                                                     mutator_probs="llvm"), False
        return "post-order-apply", None

    def _has_int8(self) -> bool:
        return any(str(p.dtype) in ("int8", "uint8") for p in self.func.params)

    def _seen_path(self) -> str:
        return os.path.join(self.work_dir, "measured.txt")

    # ------------------------------------------------------------------ protocol
    def resume(self) -> int:
        """Read the database of an earlier run: the best, the model, what was measured."""
        import tvm.s_tir.meta_schedule as ms

        path = self._seen_path()
        if not os.path.exists(path):
            return 0
        with open(path) as f:
            self._seen = {int(line) for line in f if line.strip().isdigit()}
        db = self._database()
        if not db.has_workload(self.mod):
            return len(self._seen)
        records = db.get_top_k(db.commit_workload(self.mod), len(self._seen) + 1)
        ctx = self._context()
        cands, results = [], []
        for rec in records:
            try:
                cand = rec.as_measure_candidate()
            except Exception:  # noqa: BLE001 - a record that no longer applies
                continue
            cands.append(cand)
            results.append(ms.runner.RunnerResult(run_secs=rec.run_secs, error_msg=None))
            self._note_best(rec.run_secs)
        if cands:
            self._model.update(ctx, cands, results)
        return len(self._seen)

    def _note_best(self, run_secs: Any) -> None:
        from ..metaschedule.confirm import mean_secs

        self.best_latency = min(self.best_latency, mean_secs(run_secs))

    def _confirming(self) -> Any:
        from ..metaschedule.confirm import confirming_runner

        if self._confirm_runner is None:
            self._confirm_runner = confirming_runner(self.runner)
        return self._confirm_runner

    def run(self, n: int) -> int:
        """Measure up to ``n`` more candidates (whole rounds of the strategy)."""
        import tvm.s_tir.meta_schedule as ms
        from tvm_ffi import structural_hash

        from ..metaschedule import skip_tensor_intrin_import
        from ..metaschedule.confirm import commit_confirmed, device_type_name

        done = 0
        device = device_type_name(self.target)
        ctx = self._context()
        db = self._database()
        workload = db.commit_workload(self.mod)
        with skip_tensor_intrin_import(self.target, needed=self._space_generator()[1]):
            while done < n:
                cands = ctx.generate_measure_candidates()
                if not cands:
                    self._exhausted = True
                    break
                built = self.builder.build([ms.builder.BuilderInput(c.sch.mod, self.target) for c in cands])
                inputs, pairs = [], []
                for c, b in zip(cands, built):
                    if b.error_msg is None:
                        inputs.append(ms.runner.RunnerInput(b.artifact_path, device, c.args_info))
                        pairs.append(c)
                futures = self.runner.run(inputs) if inputs else []
                results: List[Any] = []
                it = iter(futures)
                for c, b in zip(cands, built):
                    if b.error_msg is None:
                        results.append(next(it).result())
                    else:
                        results.append(ms.runner.RunnerResult(run_secs=None, error_msg=b.error_msg))
                confirmed = commit_confirmed(db, workload, self.target, self._confirming(),
                                             cands, built, results, self.work_dir, self.confirm)
                for r in confirmed:
                    self._note_best(r.run_secs)
                hashes = [int(structural_hash(c.sch.mod)) for c in cands]
                self._model.update(ctx, cands, results)
                ctx.notify_runner_results(cands, results)
                with open(self._seen_path(), "a") as f:
                    f.writelines(f"{h}\n" for h in hashes)
                self._seen.update(hashes)
                done += len(cands)
        return done

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def close(self) -> None:
        """Release the shared builder (it closes when its last user does)."""
        release = getattr(self.builder, "release", None)
        if release is not None:
            release()

    def best_func(self) -> Optional[Any]:
        """The kernel with the best measured schedule, or None before any."""
        db = self._database()
        if not db.has_workload(self.mod):
            return None
        top = db.get_top_k(db.commit_workload(self.mod), 1)
        if not top:
            return None
        import tvm
        from tvm import s_tir

        sch = s_tir.Schedule(self.mod)
        top[0].trace.apply_to_schedule(sch, remove_postproc=False)
        func = sch.mod["main"]
        return func.without_attr("global_symbol") if hasattr(func, "without_attr") else func
