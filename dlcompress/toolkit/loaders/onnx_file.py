"""An ONNX file of any signature as an artifact: inputs (names, dtypes, symbolic dims) read from the graph,
symbolic dims sized from ``--input-shape name=...`` or shared token lengths, token inputs fed through
``--tokenizer``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from torch import nn

from dlcompress.toolkit.artifact import Artifact, Format, StageRecord
from dlcompress.toolkit.errors import (
    InputShapeError,
    InvalidModelFileError,
    ModelLoadError,
    first_line,
)
from dlcompress.toolkit.model_options import ModelOptions, is_image_shape
from dlcompress.toolkit.spec import ModelCard, ModelSpec, Preprocess, TensorSpec


def load_onnx_file(path: Path, options: ModelOptions) -> Artifact:
    """An existing ONNX file: checked, and described by its own graph inputs and outputs."""
    import onnx

    if not path.exists():
        raise ModelLoadError(f"ONNX file {path} does not exist")
    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
    except Exception as e:  # noqa: BLE001 - onnx raises DecodeError, ValidationError, ...
        raise InvalidModelFileError(f"{path} is not a valid ONNX model: {first_line(e, 200) or type(e).__name__}",
                                    "re-export the model") from None
    inputs, outputs = graph_signature(model)
    if not inputs:
        raise InvalidModelFileError(f"{path} has no inputs")
    if options.input_shape is not None and len(inputs) == 1:
        given = options.input_shape
        declared = inputs[0].shape
        if len(given) != len(declared) or any(isinstance(d, int) and d != g for d, g in zip(declared, given)):
            raise InputShapeError(f"{path.name} declares input {inputs[0].describe()}, --input-shape is {','.join(map(str, given))}")
        inputs = (TensorSpec(inputs[0].name, ("batch", *given[1:]) if isinstance(declared[0], str) else given,
                             inputs[0].dtype),)
    text = token_inputs(inputs)
    if text and not options.tokenizer:
        raise InputShapeError(f"{path.name} takes token inputs ({', '.join(t.describe() for t in inputs)}), which "
                              "need a tokenizer to be fed real text",
                              "give --tokenizer FOLDER (the Hugging Face folder the model came from)")
    if text:
        inputs, outputs = _shared_token_length(inputs, outputs, _vocab_size(options.tokenizer))
    elif options.tokenizer:
        raise InputShapeError(f"--tokenizer feeds token inputs (input_ids, attention_mask, token_type_ids); "
                              f"{path.name} takes {', '.join(t.describe() for t in inputs)}", "drop --tokenizer")
    dims = _symbolic_sizes(path.name, inputs, options.input_shapes or {}, default_seq=16 if text else None)
    first = inputs[0]
    is_image = len(first.shape) == 4 and all(isinstance(d, int) for d in first.shape[1:]) and first.dtype == "float32"
    is_classifier = is_image and len(outputs) == 1 and len(outputs[0].shape) == 2
    n_classes = outputs[0].shape[1] if is_classifier and isinstance(outputs[0].shape[1], int) else None
    mean, std = options.mean, options.std
    if mean is not None and len(mean) == 1 and is_image:
        mean, std = mean * int(first.shape[1]), (std or (1.0,)) * int(first.shape[1])
    hints: dict[str, dict[str, Any]] = {}
    if text:  # a transformer: dynamic int8 by default; real text through the tokenizer when one is given
        hints["quantize"] = {"method": "dynamic"}
        if options.tokenizer:
            hints["text"] = {"tokenizer": str(Path(options.tokenizer).resolve())}
            transformer = _tokenizer_architecture(Path(options.tokenizer))
            if transformer:  # what ONNX Runtime's transformer optimizer needs to fuse the graph before int8
                hints["onnxruntime"] = {"transformer": transformer}
    spec = ModelSpec(
        name=path.stem, task="image-classification" if is_classifier else "custom", builder=_no_builder,
        inputs=inputs, outputs=outputs, dims=dims,
        preprocess=Preprocess(mean=mean, std=std),
        card=ModelCard(family="onnx", default_data="text-sentences" if options.tokenizer else
                       "photos" if is_image and is_image_shape(first.shape) else "synthetic",
                       num_classes=n_classes),
        hints=hints,
    )
    size = sum(p.stat().st_size for p in (path, path.with_name(path.name + ".data")) if p.exists())
    record = StageRecord("load", {"onnx": str(path)}, {"size_bytes": size, "opset": _opset(model)})
    precision = "fp16" if stores_float16(model) else "fp32"
    return Artifact(Format.ONNX, spec, path=path.resolve(), lineage=(record,), precision=precision)


def stores_float16(model: Any) -> bool:
    """Whether an ONNX model's weights are float16 (what fp16 conversion makes): such a file is an fp16 artifact."""
    import onnx

    return any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)


TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
SEQ = "seq"


def token_inputs(inputs: tuple[TensorSpec, ...]) -> bool:
    """Inputs a tokenizer makes: integer ``[batch, tokens]`` tensors named as Hugging Face tokenizers name them."""
    return (any(t.name == "input_ids" for t in inputs)
            and all(t.name in TOKEN_INPUTS and len(t.shape) == 2 and t.dtype.startswith("int") for t in inputs))


def _tokenizer_architecture(folder: Path) -> dict[str, Any] | None:
    """The transformer-optimizer hint of the model the ``--tokenizer`` folder came from (its config.json), or
    None; the fusion is tried and skipped when the graph does not match (an SDPA export)."""
    import json

    from dlcompress.toolkit.loaders.hf_folder import ort_transformer

    try:
        return ort_transformer(json.loads((folder / "config.json").read_text()))
    except (OSError, ValueError):
        return None


def _vocab_size(tokenizer: str) -> int:
    """The tokenizer's vocabulary size: ids of generated inputs stay below it."""
    from dlcompress.toolkit.loaders.hf_folder import load_tokenizer

    return len(load_tokenizer(tokenizer))


def _shared_token_length(inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...],
                         vocab: int) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Token inputs share one length: their second dim (and outputs' dims of the same name) become ``seq``;
    generated ids stay in the vocabulary, masks are ones and token types zeros."""
    names = {t.shape[1] for t in inputs if isinstance(t.shape[1], str)}
    ranges = {"input_ids": (0, vocab), "attention_mask": (1, 2), "token_type_ids": (0, 1)}

    def rename(t: TensorSpec, value_range: tuple[float, float] | None = None) -> TensorSpec:
        shape = tuple(SEQ if d in names else d for d in t.shape)
        return dataclasses.replace(t, shape=shape, value_range=value_range or t.value_range)

    return (tuple(rename(t, ranges[t.name]) for t in inputs),
            tuple(rename(t) for t in outputs))


def _symbolic_sizes(file: str, inputs: tuple[TensorSpec, ...], given: dict[str, tuple[int, ...]],
                    default_seq: int | None) -> dict[str, int]:
    """Sizes of the inputs' symbolic dims other than ``batch``: from ``--input-shape NAME=DIMS``, else the default
    token length; anything else is asked for in one line."""
    known = {t.name: t for t in inputs}
    unknown = [n for n in given if n not in known]
    if unknown:
        raise InputShapeError(f"{file} has no input {unknown[0]!r}", f"its inputs: {', '.join(known)}")
    sizes: dict[str, int] = {}
    for name, shape in given.items():
        t = known[name]
        if len(shape) != len(t.shape):
            raise InputShapeError(f"--input-shape {name}={','.join(map(str, shape))} has {len(shape)} dims; "
                                  f"{file} declares {t.describe()}")
        for d, n in zip(t.shape[1:], shape[1:]):
            if d == "batch":
                continue
            if isinstance(d, str):
                sizes[d] = n
            elif d != n:
                raise InputShapeError(f"--input-shape {name}={','.join(map(str, shape))} does not match {t.describe()}")
    if default_seq is not None:
        sizes.setdefault(SEQ, default_seq)
    for t in inputs:
        for d in t.shape[1:]:
            if isinstance(d, str) and d != "batch" and d not in sizes:
                example = ",".join(str(x) if isinstance(x, int) else ("1" if i == 0 else "N") for i, x in enumerate(t.shape))
                raise InputShapeError(f"input {t.describe()} of {file} has a symbolic dim {d!r} with no size",
                                      f"give it with --input-shape {t.name}={example}")
    return sizes



def _no_builder() -> nn.Module:
    raise ModelLoadError("this model was loaded from an ONNX file: there is no torch module to build")


def _opset(model: Any) -> int | None:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


ONNX_DTYPES = {1: "float32", 10: "float16", 11: "float64", 6: "int32", 7: "int64", 9: "bool", 2: "uint8", 3: "int8", 16: "bfloat16"}


def graph_signature(model: Any) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """An ONNX model's inputs (initializers left out) and outputs as TensorSpecs, its batch dim as ``batch``."""
    inits = {i.name for i in model.graph.initializer}
    graph_inputs = [v for v in model.graph.input if v.name not in inits]
    batch_param = _batch_param(graph_inputs)
    return (tuple(_tensor_spec(v, batch_param) for v in graph_inputs),
            tuple(_tensor_spec(v, batch_param) for v in model.graph.output))


def _batch_param(graph_inputs: list[Any]) -> str | None:
    """The name the file gives its batch dim: the symbolic first dim of its first input that has one."""
    for v in graph_inputs:
        dims = v.type.tensor_type.shape.dim
        if dims and not (dims[0].HasField("dim_value") and dims[0].dim_value > 0):
            return dims[0].dim_param or None
    return None


def _tensor_spec(value: Any, batch_param: str | None = None) -> TensorSpec:
    """A graph input or output as a TensorSpec: a symbolic first dim, or any dim named as the file's batch dim
    (a recurrent state ``[2, batch, 128]``), is ``batch``."""
    t = value.type.tensor_type
    dims: list[int | str] = []
    for i, d in enumerate(t.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        elif i == 0 or (batch_param and d.dim_param == batch_param):
            dims.append("batch")
        else:
            dims.append(d.dim_param or f"{value.name}_dim{i}")
    dtype = ONNX_DTYPES.get(t.elem_type, "float32")
    rng = (0.0, 100.0) if dtype.startswith("int") else (0.0, 1.0)
    return TensorSpec(value.name, tuple(dims), dtype, rng)


# ---------------------------------------------------------------------------------------------------------
# BatchNorm statistics


