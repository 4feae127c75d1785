"""ConfigSpace / ConfigEntity: index <-> entity, AutoTVM compatibility, sampling, features.

Real data: /work/shared/data/autotvm/nnfusion_osdi20/*.log, unmodified AutoTVM v0.1 logs
from microsoft/nnfusion @ 4d652edd49c4 (artifacts/kernel_db/autotvm_logs,
artifacts/figure11/tvm/autotvm_kernels), MIT. Each line is
``{"i": [target, name, args, kwargs, workload, {"i": index, "e": entity, ...}], "r": ..., "v": 0.1}``.
"""
import collections
import glob
import json
import math
import os
import pickle

import numpy as np
import pytest

from _shared_data import DATA as SHARED, require_shared
from adatune.space import ConfigEntity, ConfigSpace, SplitKnob, factors_of

DATA = os.path.join(SHARED, "autotvm", "nnfusion_osdi20")
LOGS = sorted(glob.glob(os.path.join(DATA, "*.log")))
# A missing folder skips (fails in CI) instead of parametrizing over nothing.
NEEDS_LOGS = require_shared("autotvm/nnfusion_osdi20")


def _read_v01(path):
    """Group (index, entity) pairs of a v0.1 log by workload."""
    tasks = collections.defaultdict(list)
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            rec = json.loads(line)
            assert rec["v"] == 0.1
            cfg = rec["i"][5]
            tasks[json.dumps(rec["i"][4])].append((cfg["i"], cfg["e"]))
    return tasks


def test_docstring_example_and_autotvm_serialisation():
    cfg = ConfigSpace()
    assert cfg.define_split("tile_x", 64, num_outputs=2).size == [-1, 1]
    assert cfg.define_knob("unroll", [True, False]).val is True
    assert len(cfg) == 7 * 2
    e = cfg.get(13)
    assert e.to_json_dict() == {"index": 13, "code_hash": None,
                                "entity": [["tile_x", "sp", [-1, 64]], ["unroll", "ot", False]]}
    assert json.dumps(e.to_json_dict()["entity"]) == '[["tile_x", "sp", [-1, 64]], ["unroll", "ot", false]]'
    assert ConfigEntity.from_json_dict(json.loads(json.dumps(e.to_json_dict())), cfg) == e


def test_split_candidates_follow_autotvm_order():
    # AutoTVM enumerates depth-first with the last factor varying slowest.
    k = SplitKnob("x", 8, num_outputs=3)
    assert k.candidates[:5] == [(-1, 1, 1), (-1, 2, 1), (-1, 4, 1), (-1, 8, 1), (-1, 1, 2)]
    assert len(k) == 10  # ordered factorisations of 2^3 into 3 parts
    assert all(8 % math.prod(c[1:]) == 0 for c in k.candidates)
    p = SplitKnob("y", 100, num_outputs=2, policy="power2")
    assert [c[1] for c in p.candidates] == [1, 2, 4, 8, 16, 32, 64]
    assert p.entity(6).factors == [2, 64]  # tail: ceil(100 / 64)
    m = SplitKnob("z", 64, num_outputs=2, max_factor=8)
    assert [c[1] for c in m.candidates] == [1, 2, 4, 8]


def test_template_two_calls():
    def template(cfg, n):
        cfg.define_split("tile", n, num_outputs=3)
        cfg.define_knob("vec", [1, 0])
        cfg.define_reorder("order", 3, policy="all")
        cfg.define_annotate("ann", 2, policy="try_vec")
        cfg.add_constraint(lambda c: c["tile"].size[-1] <= 16)
        return cfg["tile"].size, cfg["vec"].val, cfg["order"].perm, cfg["ann"].anns

    space = ConfigSpace()
    assert template(space, 64) == ([-1, 1, 1], 1, [0, 1, 2], ["none", "none"])
    template(space, 64)  # an identical redefinition is a no-op
    assert len(space) == 28 * 2 * 6 * 4
    with pytest.raises(ValueError, match="already defined"):
        space.define_split("tile", 32, num_outputs=3)
    idx = space.index_of([["tile", "sp", [-1, 4, 16]], ["vec", "ot", 0], ["order", "re", [2, 0, 1]],
                          ["ann", "an", ["none", "vec"]]])
    ent = space.get(idx)
    assert template(ent, 64) == ([-1, 4, 16], 0, [2, 0, 1], ["none", "vec"])
    assert ent["tile"].factors == [1, 4, 16]
    assert space.is_valid(idx)
    bad = space.index_of([["tile", "sp", [-1, 1, 32]], ["vec", "ot", 0], ["order", "re", [0, 1, 2]],
                          ["ann", "an", ["none", "none"]]])
    assert not space.is_valid(bad)
    assert all(space.is_valid(i) for i in space.sample(200, rng=0))
    # the constraint is a lambda: the pickled copy drops it, the entity travels without its space
    assert pickle.loads(pickle.dumps(ent)) == ent
    assert len(pickle.loads(pickle.dumps(space))) == len(space)


@NEEDS_LOGS
@pytest.mark.parametrize("path", LOGS, ids=[os.path.basename(p) for p in LOGS])
def test_real_autotvm_entities_round_trip(path):
    tasks = _read_v01(path)
    assert tasks
    for key, pairs in tasks.items():
        entities = [e for _, e in pairs]
        indices = [i for i, _ in pairs]
        for space in (ConfigSpace.from_records(entities, indices),
                      ConfigSpace.from_records(entities)):
            for index, entity in pairs:
                assert space.index_of(entity) == index, key
                got = space.get(index)
                assert got.entity_json() == entity
                assert ConfigEntity.from_json_dict({"i": index, "e": entity}, space).index == index
        # spaces of 10^6-10^7 configs: indices round-trip through features without enumeration
        feats = space.features(indices)
        assert feats.shape == (len(indices), len(space.feature_names()))
        assert np.isfinite(feats).all()


def test_from_records_recovers_real_conv2d_split_extents():
    # alexnet conv: out channels 384 -> tile_f splits 384, spatial 13 -> tile_y/tile_x split 13.
    tasks = _read_v01(os.path.join(DATA, "alexnet_nchw_tuned_conv2d.1000.log"))
    key = next(k for k in tasks if json.loads(k)[2][0] == 384 and json.loads(k)[1][1] == 192)
    pairs = tasks[key]
    space = ConfigSpace.from_records([e for _, e in pairs], [i for i, _ in pairs])
    assert space.knobs["tile_f"].extent == 384
    assert space.knobs["tile_y"].extent == 13
    assert space.knobs["tile_rc"].extent == 192
    assert space.knobs["auto_unroll_max_step"].candidates == [0, 512, 1500]


def test_from_records_uses_indices_to_order_choices_and_rejects_bad_input():
    space = ConfigSpace()
    space.define_split("t", 12, num_outputs=2)
    space.define_knob("u", [64, 0, 16])  # not sorted: only the indices reveal this order
    idx = [space.index_of([["t", "sp", [-1, f]], ["u", "ot", u]]) for f in (1, 3, 12) for u in (0, 16, 64)]
    ents = [space.get(i).entity_json() for i in idx]
    rebuilt = ConfigSpace.from_records(ents, idx)
    assert rebuilt.knobs["u"].candidates == [64, 0, 16]
    assert [rebuilt.index_of(e) for e in ents] == idx
    with pytest.raises(ValueError, match="entity #1"):
        ConfigSpace.from_records([ents[0], ents[1][:1]])
    with pytest.raises(ValueError, match="no space layout"):
        ConfigSpace.from_records(ents[:2], [0, 0])
    with pytest.raises(ValueError, match="missing"):
        space.index_of([["t", "sp", [-1, 1]]])
    with pytest.raises(ValueError, match="no candidate"):
        space.index_of([["t", "sp", [-1, 5]], ["u", "ot", 0]])
    with pytest.raises(ValueError, match=r"config index must be an int in \[0, "):
        space.get(len(space))
    with pytest.raises(TypeError, match="config index must be an int, got 1.0"):
        space.get(1.0)


def _huge_space():
    cfg = ConfigSpace()
    for i in range(4):
        cfg.define_split(f"s{i}", 1 << 12, num_outputs=3)  # 91 candidates each
    cfg.define_knob("unroll", [0, 4, 16, 64])
    cfg.define_knob("vec", [True, False])
    return cfg


def test_sampling_without_replacement_on_a_huge_space():
    cfg = _huge_space()
    assert len(cfg) == 91 ** 4 * 8 > 10 ** 8
    big = ConfigSpace()
    for i in range(6):
        big.define_split(f"s{i}", 1 << 12, num_outputs=3)
    big.define_knob("unroll", [0, 4, 16, 64])
    assert len(big) > 10 ** 12
    first = big.sample(5000, rng=1)
    assert len(first) == len(set(first)) == 5000
    second = big.sample(5000, rng=2, exclude=set(first))
    assert not set(first) & set(second)
    assert big.sample(10, rng=7) == big.sample(10, rng=7)
    # uniformity of one digit: the first split's positions are spread over all 91 candidates
    pos = np.array([d[0] for d in map(big.digits, first)])
    counts = np.bincount(pos, minlength=91)
    assert counts.min() > 20 and counts.max() < 100  # expected 55 each
    # spaces beyond int64 work too
    giant = ConfigSpace()
    for i in range(12):
        giant.define_split(f"g{i}", 1 << 12, num_outputs=3)
    assert giant.n_configs > 2 ** 64  # len() cannot hold this; n_configs can
    picks = giant.sample(100, rng=3)
    assert len(set(picks)) == 100 and all(0 <= p < giant.n_configs for p in picks)
    assert giant.features(picks).shape == (100, 36)
    assert big.features(first).shape == (5000, 19)


def test_small_space_sampling_is_exhaustive_and_respects_exclusions():
    cfg = ConfigSpace()
    cfg.define_split("x", 16, num_outputs=2)
    cfg.define_knob("u", [0, 1, 2])
    everything = cfg.sample(100, rng=0)
    assert sorted(everything) == list(range(15))
    assert sorted(cfg.sample(100, rng=0, exclude=range(10))) == list(range(10, 15))


def test_neighbors():
    cfg = _huge_space()
    i = cfg.sample(1, rng=0)[0]
    nb = cfg.neighbors(i)
    assert len(nb) == sum(r - 1 for r in cfg.radices) == len(set(nb))
    d0 = cfg.digits(i)
    for j in nb:
        assert sum(a != b for a, b in zip(d0, cfg.digits(j))) == 1
    some = cfg.neighbors(i, rng=0, n=5)
    assert len(set(some)) == 5 and set(some) <= set(nb)
    gen = np.random.default_rng(0)
    for _ in range(50):
        j = cfg.random_neighbor(i, gen)
        assert j != i and j in set(nb)


def test_features_values():
    cfg = ConfigSpace()
    cfg.define_split("x", 48, num_outputs=3)
    cfg.define_knob("unroll", [0, 16, 64])
    cfg.define_knob("mode", ["a", "b"])
    i = cfg.index_of([["x", "sp", [-1, 4, 2]], ["unroll", "ot", 64], ["mode", "ot", "b"]])
    np.testing.assert_allclose(cfg.features([i])[0], [math.log2(6), 2.0, 1.0, 64.0, 1.0])
    assert cfg.feature_names() == ["x.0", "x.1", "x.2", "unroll", "mode"]
    with pytest.raises(ValueError, match="bad config index"):
        cfg.features([len(cfg)])
    assert factors_of(48) == [1, 2, 3, 4, 6, 8, 12, 16, 24, 48]


def test_random_neighbors_vectorised():
    space = _huge_space()
    pts = space.sample(500, np.random.default_rng(0))
    nbs = space.random_neighbors(pts, np.random.default_rng(1))
    for p, q in zip(pts, nbs):
        assert sum(a != b for a, b in zip(space.digits(p), space.digits(q))) == 1


def test_sampling_a_sparse_constrained_space_fills_the_batch():
    """One config in about 500 valid (as in a restricted replay space, 720 of 349,920):
    sample() still returns full batches, so a random tuner is not ended after its first
    draws (the old limit of 100 * n + 1000 rejections returned none most of the time)."""
    from adatune.tuner import RandomTuner

    cfg = ConfigSpace()
    cfg.define_knob("a", list(range(600)))
    cfg.define_knob("b", list(range(600)))
    cfg.add_constraint(lambda e: e["a"].val % 25 == 0 and e["b"].val % 25 == 0)  # 576 of 360,000
    for seed in range(5):
        picks = cfg.sample(8, rng=seed)
        assert len(picks) == 8 and all(cfg.is_valid(i) for i in picks)

    class _Task:
        config_space = cfg
    tuner = RandomTuner(_Task(), seed=0)
    assert len(tuner.next_batch(16)) == 16 and not tuner._exhausted


def test_digit_matrix_agrees_with_digits_below_and_past_int64():
    small = ConfigSpace()
    small.define_knob("a", [1, 2, 3])
    small.define_split("s", 64, num_outputs=3)
    huge = ConfigSpace()
    for i in range(12):
        huge.define_split(f"s{i}", 1 << 12, num_outputs=3)  # 91 ** 12 configs
    assert huge.n_configs > 2 ** 63  # decoded as Python ints
    for space in (small, huge):
        idx = [0, space.n_configs - 1, space.n_configs // 3, space.n_configs // 7]
        assert space.digit_matrix(idx).tolist() == [space.digits(i) for i in idx]
    with pytest.raises(ValueError, match=r"mine: bad config index -1"):
        small.digit_matrix([-1], "mine")


def test_restrict_allows_only_the_given_configs_and_samples_them_without_rejection():
    s = ConfigSpace()
    s.define_knob("a", list(range(1000)))
    s.define_knob("b", list(range(1000)))  # 10^6 configs
    s.add_constraint(lambda cfg: cfg["a"].val % 7 != 0)
    rng = np.random.default_rng(0)
    allowed = set(rng.choice(s.n_configs, 100_000, replace=False).tolist())
    s.restrict(allowed)
    valid = {i for i in allowed if s.is_valid(i)}
    assert s.allowed == frozenset(allowed) and 0 < len(valid) < len(allowed)
    outside = next(i for i in range(s.n_configs) if i not in allowed)
    assert not s.is_valid(outside)
    # few of many (position draws) and most of them (the permutation): valid, distinct
    for n in (5, 300, 90_000):
        got = s.sample(n, rng)
        assert len(got) == min(n, len(valid)) and len(set(got)) == len(got) and set(got) <= valid
    everything_but = set(valid) - set(list(valid)[:3])
    assert sorted(s.sample(10, rng, exclude=everything_but)) == sorted(list(valid)[:3])
    # uniform over the valid ones: no half of them is favoured
    low = sorted(valid)[:len(valid) // 2]
    hits = sum(i <= low[-1] for _ in range(200) for i in s.sample(20, rng))
    assert 0.45 < hits / 4000 < 0.55
    # restricting again intersects; copies keep it; a bad index is refused
    s.restrict(list(allowed)[:10])
    assert s.allowed == frozenset(list(allowed)[:10])
    assert pickle.loads(pickle.dumps(s)).allowed == s.allowed
    with pytest.raises(ValueError, match="index"):
        s.restrict([s.n_configs])


def test_restrict_past_int64():
    s = ConfigSpace()
    for k in range(5):
        s.define_knob(f"k{k}", list(range(10_000)))  # 10^20 configs
    picks = [3, 2**63 + 5, s.n_configs - 1]
    s.restrict(picks)
    assert s.is_valid(2**63 + 5) and not s.is_valid(2**63 + 6)
    assert sorted(s.sample(10, np.random.default_rng(0))) == picks
