"""Generate exhaustive AutoTVM v0.2 logs of adatune's built-in CPU templates.

Each space below is a built-in template at a fixed shape with some knobs restricted to
a few values, so that the whole (restricted) space is a few hundred configs and can be
brute-forced on a 2-core machine in a few minutes. Every config of it is built and
timed with adatune's real measure pipeline (``measure_option(LocalBuilder(),
LocalRunner())``) in index order by ``GridSearchTuner`` and written with
``log_to_file``; the logs under ``bench/data/`` are the inputs of ``bench/replay.py``.

The network spaces (:data:`NETWORK_SPACES`: 13 layers of ResNet-18/50, MobileNetV2 and
BERT-base, 500-1,000 configs each) take 1-3 minutes each on the 2-core Zen 5 and are
kept gzipped under ``bench/data/network/``.

Reproduce (from the repository root)::

    python bench/gen_exhaustive_logs.py                       # the three small spaces
    python bench/gen_exhaustive_logs.py --network             # the 13 network spaces, gzipped
    python bench/gen_exhaustive_logs.py dense_64 --out /tmp   # one space elsewhere
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Dict, List, Mapping, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

import tvm  # noqa: E402

import adatune  # noqa: E402,F401
from adatune.measure import LocalBuilder, LocalRunner, measure_option  # noqa: E402
from adatune.task import create  # noqa: E402
from adatune.task.target import default_target  # noqa: E402
from adatune.tuner import GridSearchTuner, log_to_file  # noqa: E402

# name -> (template, args, a rule per restricted knob: split knobs are tested on their
# factor list ``[-1, inner...]``, others on their value; unnamed knobs keep every candidate)
SPACES: Dict[str, tuple] = {
    "dense_64": ("dense", (64, 64, 64, "float32"),
                 {"tile_y": lambda f: f[2] in (2, 4) and f[1] in (1, 4, 16),
                  "tile_x": lambda f: f[2] in (8, 16) and f[1] in (1, 2, 4),
                  "tile_k": lambda f: f[1] in (4, 16, 64)}),
    "conv2d_nchw_small": ("conv2d_nchw", (1, 8, 14, 14, 16, 3, 3, 1, 1, 1, "float32"),
                          {"tile_ow": lambda f: f[-1] in (2, 7, 14),
                           "tile_co": lambda f: f[-1] in (1, 4, 16)}),
    "batch_matmul_small": ("batch_matmul", (4, 32, 32, 32, "float32"),
                           {"tile_y": lambda f: f[2] in (2, 4, 8) and f[1] in (1, 4),
                            "tile_x": lambda f: f[2] in (8, 16) and f[1] in (1, 2),
                            "tile_k": lambda f: f[1] in (4, 8, 32)}),
}

# Layer shapes of ResNet-18/50, MobileNetV2 and BERT-base (seq 128), each a restricted
# grid of one built-in template. The restrictions drop whole knob values (never single
# configs), so each space stays a product of knob candidates with the template's own
# validity rules inside it, as a tuner of the full space would meet them.
NETWORK_SPACES: Dict[str, tuple] = {
    "resnet18_conv3x3_56_nhwc": ("conv2d_nhwc", (1, 56, 56, 64, 64, 3, 3, 1, 1, 1, "float32"),
                                 {"tile_oh": lambda f: f[-1] in (1, 2, 4, 7),
                                  "tile_co": lambda f: f[-1] in (8, 16, 64),
                                  "tile_ci": lambda f: f[-1] in (4, 8, 16, 64)}),
    "resnet18_conv3x3_14_nhwc": ("conv2d_nhwc", (1, 14, 14, 256, 256, 3, 3, 1, 1, 1, "float32"),
                                 {"tile_ci": lambda f: f[-1] in (4, 16, 64)}),
    "resnet18_conv3x3_7_nchw": ("conv2d_nchw", (1, 512, 7, 7, 512, 3, 3, 1, 1, 1, "float32"),
                                {}),
    "resnet18_conv3x3_28_s2_nchw": ("conv2d_nchw", (1, 64, 56, 56, 128, 3, 3, 2, 1, 1, "float32"),
                                    {"tile_ci": lambda f: f[-1] in (4, 16, 64),
                                     "tile_oh": lambda f: f[-1] in (1, 2, 4, 7, 14)}),
    "resnet50_conv1x1_56_nhwc": ("conv2d_nhwc", (1, 56, 56, 64, 256, 1, 1, 1, 0, 1, "float32"),
                                 {"tile_oh": lambda f: f[-1] in (1, 2, 4, 7),
                                  "tile_co": lambda f: f[-1] in (8, 16, 64, 256),
                                  "tile_ci": lambda f: f[-1] in (4, 16, 64)}),
    "resnet50_conv1x1_28_nhwc": ("conv2d_nhwc", (1, 28, 28, 512, 128, 1, 1, 1, 0, 1, "float32"),
                                 {"tile_ci": lambda f: f[-1] in (4, 16, 64, 128),
                                  "tile_oh": lambda f: f[-1] in (1, 2, 4, 7),
                                  "tile_co": lambda f: f[-1] in (8, 16, 32, 128)}),
    "mobilenetv2_dw3x3_56_nhwc": ("depthwise_conv2d_nhwc", (1, 56, 56, 144, 3, 3, 1, 1, 1, "float32"),
                                  {"tile_c": lambda f: f[-1] in (4, 8, 16, 24, 48, 144)}),
    "mobilenetv2_dw3x3_14_s2_nhwc": ("depthwise_conv2d_nhwc", (1, 28, 28, 192, 3, 3, 2, 1, 1, "float32"),
                                     {}),
    "mobilenetv2_conv1x1_14_nhwc": ("conv2d_nhwc", (1, 14, 14, 96, 576, 1, 1, 1, 0, 1, "float32"),
                                    {"tile_ci": lambda f: f[-1] in (4, 16, 32, 96),
                                     "tile_co": lambda f: f[-1] in (8, 16, 32, 64, 96, 192)}),
    "bert_dense_qkv": ("dense", (128, 768, 768, "float32"),
                       {"tile_y": lambda f: f[2] in (2, 4, 8) and f[1] in (1, 4, 16),
                        "tile_x": lambda f: f[2] in (16, 32, 64) and f[1] in (1, 2, 4, 8),
                        "tile_k": lambda f: f[1] in (16, 64, 256)}),
    "bert_matmul_ffn1": ("matmul", (128, 3072, 768, "float32"),
                         {"tile_y": lambda f: f[2] in (4, 8) and f[1] in (1, 4, 16),
                          "tile_x": lambda f: f[2] in (16, 32, 64) and f[1] in (1, 4, 16),
                          "tile_k": lambda f: f[1] in (8, 64, 256)}),
    "bert_batch_matmul_qk": ("batch_matmul", (12, 128, 128, 64, "float32"),
                             {"tile_y": lambda f: f[2] in (2, 4, 8) and f[1] in (1, 4, 16),
                              "tile_x": lambda f: f[2] in (16, 32) and f[1] in (1, 2, 4),
                              "tile_k": lambda f: f[1] in (8, 16, 64)}),
    "bert_batch_matmul_sv": ("batch_matmul", (12, 128, 64, 128, "float32"),
                             {"tile_y": lambda f: f[2] in (2, 4, 8) and f[1] in (1, 4, 16),
                              "tile_x": lambda f: f[2] in (16, 32, 64) and f[1] in (1, 2),
                              "tile_k": lambda f: f[1] in (8, 16, 32, 64, 128)}),
}
SPACES.update(NETWORK_SPACES)


class _RestrictedGrid(GridSearchTuner):
    """Grid search over an explicit list of config indices (the restricted space)."""

    def __init__(self, task: Any, allowed: Sequence[int]):
        super().__init__(task)
        self._allowed = list(allowed)
        self._pos = 0

    def has_next(self) -> bool:
        return self._pos < len(self._allowed)

    def next_batch(self, batch_size: int) -> List[Any]:
        out = self._allowed[self._pos:self._pos + batch_size]
        self._pos += len(out)
        self.visited.update(out)
        return [self.space.get(i) for i in out]


def _value(entity: Any) -> Any:
    size = getattr(entity, "size", None)
    return list(size) if size is not None else entity.val


def allowed_indices(space: Any, rules: Mapping[str, Any]) -> List[int]:
    """Valid configs of ``space`` whose knobs pass every rule."""
    out = []
    for i in range(space.n_configs):
        if not space.is_valid(i):
            continue
        cfg = space.get(i)
        if all(rule(_value(cfg[name])) for name, rule in rules.items()):
            out.append(i)
    return out


def _target(name: str) -> Any:
    # The network layers are timed for this host's CPU (AVX-512 on Zen 5), as a user
    # tunes them; the three small spaces keep the generic x86-64 target they were made
    # with, so that the earlier tables stay reproducible.
    return tvm.target.Target(default_target() if name in NETWORK_SPACES else {"kind": "llvm", "num-cores": 2})


def generate(name: str, out_dir: str) -> str:
    template, args, rules = SPACES[name]
    target = _target(name)
    task = create(template, args, target)
    allowed = allowed_indices(task.config_space, rules)
    path = os.path.join(out_dir, f"{name}.json")
    if os.path.exists(path):
        os.remove(path)
    print(f"{name}: {template}{args}: {len(allowed)} of {task.config_space.n_configs} configs -> {path}",
          flush=True)
    t0 = time.time()
    with measure_option(LocalBuilder(), LocalRunner(number=4, repeat=3)) as mo:
        summary = _RestrictedGrid(task, allowed).tune(len(allowed), mo, callbacks=[log_to_file(path)])
    print(f"{name}: {summary.n_trials} trials, {summary.n_failed} failed, best "
          f"{summary.best_gflops:.2f} GFLOPS, {time.time() - t0:.0f} s", flush=True)
    return path


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spaces", nargs="*", choices=[[], *SPACES],
                    help="spaces to generate (default: the three small ones; with --network, the network ones)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "data"), help="output folder")
    ap.add_argument("--count", action="store_true", help="only print the size of each space")
    ap.add_argument("--network", action="store_true",
                    help="the network spaces, written gzipped to bench/data/network (or --out)")
    args = ap.parse_args(list(argv))
    names = list(args.spaces) or [n for n in SPACES if (n in NETWORK_SPACES) == args.network]
    if args.network and args.out == ap.get_default("out"):
        args.out = os.path.join(ROOT, "bench", "data", "network")
    os.makedirs(args.out, exist_ok=True)
    for name in names:
        if args.count:
            template, targs, rules = SPACES[name]
            task = create(template, targs, _target(name))
            print(name, len(allowed_indices(task.config_space, rules)), task.config_space)
        else:
            path = generate(name, args.out)
            if args.network:
                _gzip(path)
    return 0


def _gzip(path: str) -> str:
    import gzip
    import shutil

    with open(path, "rb") as src, gzip.open(path + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.remove(path)
    return path + ".gz"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
