"""Built-in templates: every one numerically correct against numpy on several configs.

Each template is compiled for the host CPU and run on random inputs; its output is
compared with an independent numpy computation written here (not the template's own
reference), so a wrong schedule and a wrong reference are both caught.
"""
import numpy as np
import pytest
import tvm

import adatune.task as T
from adatune.templates import _schedule

N_SAMPLED = 3


def _run(task, config, seed=0):
    arrays = task.make_inputs(seed)
    tensors = [tvm.runtime.tensor(a) for a in arrays]
    lib = task.build(config)
    lib["main"](*tensors)
    return arrays, [t.numpy() for t in tensors]


def _naive_conv_nchw(x, w, stride, pad, dil):
    """Direct convolution, one output pixel at a time (small shapes only)."""
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dil
    n, ci, h, wd = x.shape
    co, _, kh, kw = w.shape
    xp = np.zeros((n, ci, h + 2 * ph, wd + 2 * pw), np.float64)
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, co, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * sh:i * sh + dh * (kh - 1) + 1:dh, j * sw:j * sw + dw * (kw - 1) + 1:dw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return out


def _naive_depthwise(x, w, stride, pad, dil):
    n, c, h, wd = x.shape
    out = [_naive_conv_nchw(x[:, i:i + 1], w[i:i + 1], stride, pad, dil) for i in range(c)]
    return np.concatenate(out, axis=1)


def _expected(name, args, arrays):
    a, b = arrays[0].astype(np.float64), arrays[1].astype(np.float64)
    if name == "dense":
        return a @ b.T
    if name == "matmul":
        return a @ b
    if name == "batch_matmul":
        return np.einsum("bmk,bnk->bmn", a, b)
    if name == "conv2d_nchw":
        return _naive_conv_nchw(a, b, *(_schedule.pair(v, "") for v in args[7:10]))
    if name == "conv2d_nhwc":
        x = a.transpose(0, 3, 1, 2)
        w = b.transpose(3, 2, 0, 1)
        return _naive_conv_nchw(x, w, *(_schedule.pair(v, "") for v in args[7:10])).transpose(0, 2, 3, 1)
    if name == "depthwise_conv2d_nchw":
        return _naive_depthwise(a, b, *(_schedule.pair(v, "") for v in args[6:9]))
    if name == "depthwise_conv2d_nhwc":
        x, w = a.transpose(0, 3, 1, 2), b.transpose(3, 2, 0, 1)  # [KH, KW, 1, C] -> [C, 1, KH, KW]
        return _naive_depthwise(x, w, *(_schedule.pair(v, "") for v in args[6:9])).transpose(0, 2, 3, 1)
    raise AssertionError(name)


CASES = [
    ("dense", (24, 32, 20, "float32")),
    ("matmul", (17, 48, 12, "float32")),
    ("batch_matmul", (3, 16, 24, 10, "float32")),
    ("conv2d_nchw", (1, 8, 9, 10, 16, 3, 3, 1, 1, 1, "float32")),
    ("conv2d_nchw", (2, 4, 11, 9, 8, 3, 2, (2, 1), (1, 0), (1, 2), "float32")),
    ("conv2d_nhwc", (1, 9, 10, 8, 16, 3, 3, 1, 1, 1, "float32")),
    ("conv2d_nhwc", (2, 11, 9, 4, 8, 1, 3, 2, (0, 1), 1, "float32")),
    ("depthwise_conv2d_nchw", (1, 8, 12, 10, 3, 3, 1, 1, 1, "float32")),
    ("depthwise_conv2d_nchw", (2, 3, 13, 11, 5, 3, 2, 2, (2, 1), "float32")),
    ("depthwise_conv2d_nhwc", (1, 12, 10, 32, 3, 3, 1, 1, 1, "float32")),
    ("depthwise_conv2d_nhwc", (2, 13, 11, 24, 5, 3, 2, (2, 1), (1, 2), "float32")),
    ("depthwise_conv2d_nhwc", (1, 9, 9, 16, 3, 3, 2, 0, 1, "float32")),
]


@pytest.mark.parametrize("name,args", CASES, ids=[f"{n}{a[:4]}" for n, a in CASES])
def test_template_correct_on_several_configs(name, args):
    task = T.create(name, args, "llvm")
    space = task.config_space
    picks = space.sample(N_SAMPLED, rng=7)
    picks.append(0)  # all-ones tiles: invalid for tuning (no vector) but must still compute
    assert len(set(picks)) == N_SAMPLED + 1
    for index in picks:
        arrays, outs = _run(task, index)
        want = _expected(name, args, arrays)
        got = outs[task.output_indices[0]]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"{name} config {space.get(index)}")
        assert task.check_outputs(outs)


def test_float64_dense():
    task = T.create("dense", (8, 16, 8, "float64"))
    arrays, outs = _run(task, task.config_space.sample(1, rng=0)[0])
    assert outs[2].dtype == np.float64
    np.testing.assert_allclose(outs[2], arrays[0] @ arrays[1].T, rtol=1e-12)


def test_flop_counts():
    assert T.create("dense", (4, 8, 16)).flop == 2 * 4 * 8 * 16
    assert T.create("batch_matmul", (3, 4, 8, 16)).flop == 2 * 3 * 4 * 8 * 16
    # ResNet-18 conv2_x: 1x64x56x56, 64 filters 3x3, stride 1, pad 1
    assert T.create("conv2d_nchw", (1, 64, 56, 56, 64, 3, 3, 1, 1)).flop == 2 * 64 * 56 * 56 * 64 * 9
    assert T.create("conv2d_nhwc", (1, 56, 56, 64, 64, 3, 3, 2, 1)).flop == 2 * 64 * 28 * 28 * 64 * 9
    assert T.create("depthwise_conv2d_nchw", (1, 32, 10, 10, 3, 3, 1, 0)).flop == 2 * 32 * 8 * 8 * 9
    assert T.create("depthwise_conv2d_nhwc", (1, 10, 10, 32, 3, 3, 2, 1)).flop == 2 * 32 * 5 * 5 * 9


def test_space_knobs_and_tile_constraint():
    space = T.create("dense", (64, 64, 64)).config_space
    assert list(space.knobs) == ["tile_y", "tile_x", "tile_k", "reduce_outer", "unroll_k"]
    valid = space.sample(50, rng=1)
    assert valid
    for index in valid:
        cfg = space.get(index)
        bn, mi = cfg["tile_x"].size[-1], cfg["tile_y"].size[-1]
        assert bn >= _schedule.MIN_VECTOR
        assert bn * mi <= _schedule.MAX_TILE_ELEMS
    assert not space.is_valid(0)  # panel width 1 is not a vector
    conv = T.create("conv2d_nchw", (1, 16, 8, 8, 32, 3, 3, 1, 1)).config_space
    assert {"tile_co", "tile_oh", "tile_ow", "tile_ci", "reduce_order", "unroll_kw"} == set(conv.knobs)
    # a depthwise convolution without padding has no padding knob
    assert "pad_inside" not in T.create("depthwise_conv2d_nchw", (1, 4, 8, 8, 3, 3, 1, 0)).config_space
    assert "pad_inside" in T.create("depthwise_conv2d_nchw", (1, 4, 8, 8, 3, 3, 1, 1)).config_space


def test_prime_extents_keep_a_valid_config():
    # 13 and 7 have no divisor >= 4 but themselves: the constraint must still admit configs
    space = T.create("dense", (13, 7, 5)).config_space
    valid = [i for i in range(len(space)) if space.is_valid(i)]
    assert valid
    assert all(space.get(i)["tile_x"].size[-1] == 7 for i in valid)


@pytest.mark.parametrize("name,args,error,match", [
    ("dense", (0, 4, 4), ValueError, "dense: M must be a positive int"),
    ("matmul", (4, 4.5, 4), TypeError, "matmul: N must be an int"),
    ("conv2d_nchw", (1, 4, 8, 8, 4, 3, 3, 0), ValueError, "stride"),
    ("conv2d_nhwc", (1, 2, 2, 4, 4, 5, 5, 1, 0), ValueError, "does not fit"),
    ("depthwise_conv2d_nchw", (1, 4, 8, 8, 3, 3, "1"), TypeError, "stride must be an int"),
    ("depthwise_conv2d_nhwc", (1, 8, 8, 0, 3, 3), ValueError, "depthwise_conv2d_nhwc: C must be a positive int"),
    ("depthwise_conv2d_nhwc", (1, 4, 4, 8, 5, 5), ValueError, "does not fit the padded input"),
])
def test_bad_arguments_are_named(name, args, error, match):
    with pytest.raises(error, match=match):
        T.create(name, args).config_space


def test_wrong_output_is_detected():
    task = T.create("conv2d_nhwc", (1, 6, 6, 4, 8, 3, 3, 1, 1))
    arrays, outs = _run(task, task.config_space.sample(1, rng=3)[0])
    assert task.check_outputs(outs)
    outs[2][0, 1, 2, 3] += 0.5
    assert not task.check_outputs(outs)
    outs[2][...] = np.nan
    assert not task.check_outputs(outs)


# What one writes by hand for these layers on AVX-512 (MobileNetV2's 56x56x144 depthwise
# and its 7x7 960->160 1x1 convolution): 16 channels per vector, a few pixels of
# register tile, the whole reduction inside, unrolled window. The space must hold it.
HAND_WRITTEN = [
    ("depthwise_conv2d_nhwc", (1, 56, 56, 144, 3, 3, 1, 1, 1, "float32"),
     {"tile_c": [-1, 16], "tile_oh": [-1, 1], "tile_ow": [-1, 4], "order": "c_ow", "unroll_kernel": True,
      "pad_inside": True}),
    ("conv2d_nhwc", (1, 7, 7, 960, 160, 1, 1, 1, 0, 1, "float32"),
     {"tile_co": [-1, 32], "tile_oh": [-1, 1], "tile_ow": [-1, 7], "tile_ci": [-1, 960],
      "reduce_order": "k_ci", "unroll_kw": True}),
]


@pytest.mark.parametrize("name,args,values", HAND_WRITTEN, ids=[h[0] for h in HAND_WRITTEN])
def test_hand_written_schedules_are_valid_configs_with_autotvm_entities(name, args, values):
    task = T.create(name, args, "llvm")
    space = task.config_space
    entity = [[knob, space.knobs[knob].kind, value] for knob, value in values.items()]
    index = space.index_of(entity)
    assert space.is_valid(index)  # not excluded by the register-tile constraint
    cfg = space.get(index)
    assert cfg.entity_json() == entity and space.index_of(cfg.entity_json()) == index
    # AutoTVM v0.2's config dict round-trips
    assert space.index_of(cfg.to_json_dict()["entity"]) == index
    arrays, outs = _run(task, index)
    np.testing.assert_allclose(outs[task.output_indices[0]], _expected(name, args, arrays), rtol=1e-4, atol=1e-4)
