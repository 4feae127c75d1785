"""A model in, a Relax module with static input shapes out.

``model`` may be an ONNX file or ``onnx.ModelProto`` (imported with
``tvm.relax.frontend.onnx.from_onnx``), a Relax ``IRModule`` with a ``main`` function,
or a ``torch.nn.Module`` with example inputs (``torch.export`` then
``tvm.relax.frontend.torch.from_exported_program``; torch is imported only then).
Weights become constants of the module, so legalization can fold them.
"""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import AdatuneError, ArgumentError, ArgumentTypeError

__all__ = ["ImportedModel", "InputSpec", "import_model", "ModelImportError", "parse_input_spec"]

logger = logging.getLogger(__name__)


class ModelImportError(AdatuneError, ValueError):
    """The model could not be read or imported (the message names the file or operator)."""


@dataclass(frozen=True)
class InputSpec:
    """One input of a model: its name, static shape and dtype."""

    name: str
    shape: Tuple[int, ...]
    dtype: str

    def random(self, rng: np.random.Generator) -> np.ndarray:
        """A random array of this input (standard normal; small non-negative ints for
        integer inputs, which are usually indices)."""
        if np.issubdtype(np.dtype(self.dtype), np.integer):
            return rng.integers(0, 2, size=self.shape).astype(self.dtype)
        return rng.standard_normal(self.shape).astype(self.dtype)


@dataclass
class ImportedModel:
    """A model as a Relax module, with what is known of where it came from."""

    mod: Any
    inputs: List[InputSpec]
    source: str
    onnx_bytes: Optional[bytes] = None


def parse_input_spec(text: str) -> Tuple[str, Tuple[int, ...]]:
    """``"name:1,3,224,224"`` -> ``("name", (1, 3, 224, 224))`` (the CLI's ``--input``)."""
    name, sep, dims = str(text).rpartition(":")
    try:
        shape = tuple(int(d) for d in dims.split(",") if d.strip())
    except ValueError:
        shape = ()
    if not sep or not name or not shape or any(d < 1 for d in shape):
        raise ArgumentError(f"--input must look like name:1,3,224,224 (positive dims), got {text!r}")
    return name, shape


def _check_inputs(inputs: Any) -> Dict[str, Tuple[int, ...]]:
    if inputs is None:
        return {}
    if not isinstance(inputs, Mapping):
        raise ArgumentTypeError(f"inputs must map input name -> shape, got {inputs!r}")
    out = {}
    for name, shape in inputs.items():
        try:
            dims = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            raise ArgumentTypeError(f"inputs[{name!r}] must be a shape (ints), got {shape!r}") from None
        if not dims or any(d < 1 for d in dims):
            raise ArgumentError(f"inputs[{name!r}] must be a shape of positive ints, got {shape!r}")
        out[str(name)] = dims
    return out


def _load_onnx(model: Any) -> Tuple[Any, str]:
    try:
        import onnx
    except ImportError:  # pragma: no cover - onnx is a dependency
        raise ModelImportError("reading an ONNX model needs the onnx package (pip install onnx)") from None
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise ModelImportError(f"{path}: no such model file")
        try:
            proto = onnx.load(path)
        except Exception as err:  # noqa: BLE001 - protobuf raises its own DecodeError
            raise ModelImportError(f"{path}: not a readable ONNX model ({type(err).__name__}: "
                                   f"{str(err).splitlines()[0] if str(err) else 'corrupt file'})") from None
        if not proto.graph.node:
            raise ModelImportError(f"{path}: not a readable ONNX model (no graph)")
        return proto, path
    return model, "onnx.ModelProto"


def _onnx_inputs(proto: Any, given: Dict[str, Tuple[int, ...]], where: str) -> List[InputSpec]:
    from onnx import helper

    initializers = {t.name for t in proto.graph.initializer}
    specs = []
    for value in proto.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dtype = str(np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type)))
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "?")
                for d in tensor.shape.dim]
        if value.name in given:
            shape = given[value.name]
            if len(shape) != len(dims) or any(isinstance(d, int) and d != s for d, s in zip(dims, shape)):
                raise ArgumentError(f"{where}: inputs[{value.name!r}] = {list(shape)} does not fit the "
                                    f"model's shape {dims}")
        elif all(isinstance(d, int) for d in dims):
            shape = tuple(dims)
        else:
            example = ",".join(str(d) if isinstance(d, int) else "1" for d in dims)
            raise ArgumentError(f"{where}: input {value.name!r} has a dynamic shape {dims}; give it a "
                                f"static one with inputs={{{value.name!r}: ({example.replace(',', ', ')})}} "
                                f"(CLI: --input {value.name}:{example})")
        specs.append(InputSpec(value.name, tuple(int(d) for d in shape), dtype))
    unknown = set(given) - {s.name for s in specs}
    if unknown:
        raise ArgumentError(f"{where}: inputs names {sorted(unknown)} are not inputs of the model "
                            f"(its inputs: {[s.name for s in specs]})")
    return specs


def _import_onnx(model: Any, given: Dict[str, Tuple[int, ...]]) -> ImportedModel:
    from tvm.relax.frontend.onnx import from_onnx

    proto, where = _load_onnx(model)
    specs = _onnx_inputs(proto, given, where)
    try:
        with warnings.catch_warnings(record=True) as caught:
            # The importer warns about each node the ONNX checker dislikes; the error
            # that follows (if any) names the operators, in one line.
            warnings.simplefilter("always")
            mod = from_onnx(proto, shape_dict={s.name: list(s.shape) for s in specs},
                            dtype_dict={s.name: s.dtype for s in specs}, keep_params_in_input=False)
        for w in caught:
            logger.debug("%s: ONNX importer: %s", where, str(w.message).splitlines()[0])
    except NotImplementedError as err:  # tvm.error.OpNotImplemented: names the operators
        raise ModelImportError(f"{where}: {err}") from None
    except Exception as err:  # noqa: BLE001 - the importer's own errors, in one line
        first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise ModelImportError(f"{where}: the ONNX importer rejected the model: {first}") from None
    return ImportedModel(mod, specs, where, proto.SerializeToString())


def _relax_inputs(mod: Any, where: str) -> List[InputSpec]:
    main = mod["main"]
    specs = []
    for param in main.params:
        ty = param.ty
        shape = getattr(ty, "shape", None)
        values = getattr(shape, "values", None)
        dims = []
        for d in (values if values is not None else []):
            dims.append(int(d.value) if hasattr(d, "value") else None)
        if values is None or any(d is None for d in dims):
            raise ArgumentError(f"{where}: input {param.name!r} has no static shape ({ty}); "
                                f"bind its shape before tuning")
        specs.append(InputSpec(str(param.name), tuple(dims), str(ty.dtype)))
    return specs


def _import_relax(mod: Any) -> ImportedModel:
    if "main" not in [gv.name_hint for gv in mod.get_global_vars()]:
        raise ArgumentError("model: the Relax module has no 'main' function")
    return ImportedModel(mod, _relax_inputs(mod, "Relax module"), "Relax module")


def _import_torch(model: Any, example: Any) -> ImportedModel:
    import torch
    from tvm.relax.frontend.torch import from_exported_program

    if example is None:
        raise ArgumentError("model: a torch.nn.Module needs example inputs: inputs=(tensor, ...) "
                            "or inputs={'name': shape}")
    if isinstance(example, Mapping):
        shapes = _check_inputs(example)
        args = tuple(torch.randn(*s) for s in shapes.values())
    else:
        args = tuple(torch.as_tensor(np.asarray(a)) if not isinstance(a, torch.Tensor) else a
                     for a in (example if isinstance(example, (list, tuple)) else (example,)))
    try:
        with torch.no_grad():
            program = torch.export.export(model.eval(), args)
        mod = from_exported_program(program, keep_params_as_input=False)
    except Exception as err:  # noqa: BLE001 - export or import errors, in one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelImportError(f"torch module {type(model).__name__}: import failed: {first}") from None
    return ImportedModel(mod, _relax_inputs(mod, f"torch module {type(model).__name__}"),
                         f"torch module {type(model).__name__}")


def import_model(model: Any, inputs: Union[None, Mapping[str, Sequence[int]], Sequence[Any]] = None) -> ImportedModel:
    """Import ``model`` (ONNX file or proto, Relax IRModule, torch module) as Relax.

    ``inputs`` gives static shapes (``{"name": shape}``) for inputs whose shape is
    dynamic in the model; for a torch module it may also be the example inputs.
    """
    import tvm

    if isinstance(model, (str, os.PathLike)):
        return _import_onnx(model, _check_inputs(inputs))
    if type(model).__name__ == "ModelProto":
        return _import_onnx(model, _check_inputs(inputs))
    if isinstance(model, tvm.IRModule):
        return _import_relax(model)
    if hasattr(model, "forward") and type(model).__module__.split(".")[0] != "adatune" and _is_torch(model):
        return _import_torch(model, inputs)
    raise ArgumentTypeError(f"model must be an ONNX file, an onnx.ModelProto, a Relax IRModule or a "
                            f"torch.nn.Module, got {type(model).__name__}")


def _is_torch(model: Any) -> bool:
    return any(c.__module__.startswith("torch") for c in type(model).__mro__)
