"""A user-defined template living outside adatune (imported by worker processes by name)."""
import os

from tvm import te, s_tir

import adatune


def _ref(args, inputs):
    (a,) = inputs
    return [a * 2.0]


@adatune.template("user_mod_scale", reference=_ref)
def scale(cfg, n):
    cfg.define_split("tile", n, num_outputs=2)
    a = te.placeholder((n,), name="A")
    b = te.compute((n,), lambda i: a[i] * 2.0, name="B")
    sch = s_tir.Schedule(te.create_prim_func([a, b]))
    (i,) = sch.get_loops(sch.get_sblock("B"))
    sch.split(i, [None, cfg["tile"].size[-1]])
    return sch.mod["main"]


@adatune.template("user_mod_crash")
def crash(cfg, n):
    cfg.define_knob("x", [0, 1])
    if not isinstance(cfg, adatune.space.ConfigSpace):
        os.abort()  # dies while instantiating in the build worker
    a = te.placeholder((n,), name="A")
    b = te.compute((n,), lambda i: a[i] + 1.0, name="B")
    return te.create_prim_func([a, b])
