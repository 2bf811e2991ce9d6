"""Read and rewrite ``.tflite`` flatbuffers (the LiteRT model format) with the schema that ships in
``ai_edge_litert``: list operators and tensors, and switch a full-int8 model between integer and float I/O.

Only :mod:`ai_edge_litert` is needed (no TensorFlow, no interpreter): this works on any ``.tflite`` file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dlcompress.toolkit.errors import InvalidModelFileError, UnsupportedError

INTEGER_TYPES = ("INT8", "UINT8")


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a subgraph. ``constant`` tensors hold data in the file (weights, biases, shapes)."""

    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    quantized: bool
    constant: bool

    @property
    def dynamic(self) -> bool:
        return any(d < 0 for d in self.shape_signature)


@dataclass(frozen=True)
class OpInfo:
    """One operator, in execution order; ``name`` is the TFLite builtin name (``CONV_2D``) or the custom code."""

    subgraph: int
    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    custom: bool = False


@dataclass(frozen=True)
class TFLiteGraph:
    """Operators and tensors of every subgraph, plus the I/O tensors of the main one (subgraph 0)."""

    path: Path
    ops: tuple[OpInfo, ...]
    tensors: tuple[tuple[TensorInfo, ...], ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def tensor(self, subgraph: int, index: int) -> TensorInfo:
        return self.tensors[subgraph][index]

    @property
    def input_dtypes(self) -> list[str]:
        return [self.tensors[0][i].dtype for i in self.inputs]

    @property
    def output_dtypes(self) -> list[str]:
        return [self.tensors[0][i].dtype for i in self.outputs]

    def float_activations(self) -> list[TensorInfo]:
        """Float tensors computed at run time, other than the model's own inputs and outputs: none in a
        full-integer model (float I/O converted by QUANTIZE/DEQUANTIZE at the edges is still full-integer)."""
        io = {*self.inputs, *self.outputs}
        return [t for s, ts in enumerate(self.tensors) for t in ts
                if t.dtype.startswith("FLOAT") and not t.constant and not (s == 0 and t.index in io)]


def _schema():  # noqa: ANN202
    try:
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.tools import flatbuffer_utils
    except ImportError:
        from dlcompress.toolkit.errors import BackendUnavailableError

        raise BackendUnavailableError("reading .tflite files needs ai-edge-litert", "pip install 'dlcompress[litert]'") from None
    return schema, flatbuffer_utils


def _enum_names(enum_cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def _read(path: Path):  # noqa: ANN202
    schema, fb = _schema()
    path = Path(path)
    if not path.is_file():
        raise InvalidModelFileError(f"{path} does not exist")
    head = path.read_bytes()[4:8]
    if head != b"TFL3":
        raise InvalidModelFileError(f"{path} is not a TFLite/LiteRT flatbuffer (no 'TFL3' identifier)",
                                    "pass a .tflite file written by LiteRT / TFLite")
    try:
        return schema, fb, fb.read_model(str(path))
    except Exception as e:  # noqa: BLE001 - a corrupt flatbuffer raises anything
        raise InvalidModelFileError(f"cannot parse {path}: {type(e).__name__}: {e}") from None


def read_graph(path: Path) -> TFLiteGraph:
    """Parse a ``.tflite`` file into operators and tensors."""
    schema, _fb, model = _read(path)
    op_names = _enum_names(schema.BuiltinOperator)
    type_names = _enum_names(schema.TensorType)
    codes = []
    for oc in model.operatorCodes or []:
        code = max(int(oc.builtinCode or 0), int(oc.deprecatedBuiltinCode or 0))
        custom = code == schema.BuiltinOperator.CUSTOM
        name = (oc.customCode.decode() if isinstance(oc.customCode, bytes) else str(oc.customCode)) if custom \
            else op_names.get(code, f"BUILTIN_{code}")
        codes.append((name, custom))
    ops: list[OpInfo] = []
    tensors: list[tuple[TensorInfo, ...]] = []
    for s, sg in enumerate(model.subgraphs or []):
        infos = []
        for i, t in enumerate(sg.tensors or []):
            buf = model.buffers[t.buffer] if t.buffer is not None and t.buffer < len(model.buffers or []) else None
            has_data = buf is not None and buf.data is not None and len(buf.data) > 0
            q = t.quantization
            quantized = q is not None and q.scale is not None and len(q.scale) > 0
            shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
            sig = tuple(int(d) for d in t.shapeSignature) if t.shapeSignature is not None and len(t.shapeSignature) else shape
            name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
            infos.append(TensorInfo(i, name, type_names.get(t.type, str(t.type)), shape, sig, quantized, has_data))
        tensors.append(tuple(infos))
        for j, op in enumerate(sg.operators or []):
            name, custom = codes[op.opcodeIndex]
            ops.append(OpInfo(s, j, name, tuple(int(x) for x in (op.inputs if op.inputs is not None else ()) if x >= 0),
                              tuple(int(x) for x in (op.outputs if op.outputs is not None else ())), custom))
    main = model.subgraphs[0]
    return TFLiteGraph(Path(path), tuple(ops), tuple(tensors), tuple(int(i) for i in main.inputs),
                       tuple(int(i) for i in main.outputs))


def _opcode_index(schema, model, builtin: int, version: int) -> int:  # noqa: ANN001
    for k, oc in enumerate(model.operatorCodes):
        if max(int(oc.builtinCode or 0), int(oc.deprecatedBuiltinCode or 0)) == builtin:
            oc.version = max(int(oc.version or 1), version)
            return k
    oc = schema.OperatorCodeT()
    oc.builtinCode = builtin
    oc.deprecatedBuiltinCode = min(builtin, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
    oc.version = version
    model.operatorCodes.append(oc)
    return len(model.operatorCodes) - 1


def float_interface(src: Path, dst: Path) -> list[str]:
    """Rewrite a model with int8/uint8 inputs and outputs so it takes and returns float32: a QUANTIZE op is put
    in front of every integer input and a DEQUANTIZE op after every integer output (what the TFLite converter
    does by default). Tensor names and signature names stay the same. Returns what was changed."""
    import copy

    schema, fb, model = _read(src)
    sg = model.subgraphs[0]
    int_types = {schema.TensorType.INT8, schema.TensorType.UINT8}
    changed: list[str] = []
    empty = schema.BufferT()
    model.buffers.append(empty)
    empty_index = len(model.buffers) - 1

    def float_twin(t_index: int, suffix: str) -> int:
        t = sg.tensors[t_index]
        twin = copy.deepcopy(t)
        twin.type = schema.TensorType.FLOAT32
        twin.quantization = None
        twin.buffer = empty_index
        t.name = (t.name.decode() if isinstance(t.name, bytes) else str(t.name)) + suffix
        sg.tensors.append(twin)
        return len(sg.tensors) - 1

    remap: dict[int, int] = {}
    added: dict[str, list] = {"input": [], "output": []}
    sides = (("input", sg.inputs, schema.BuiltinOperator.QUANTIZE, "QUANTIZE"),
             ("output", sg.outputs, schema.BuiltinOperator.DEQUANTIZE, "DEQUANTIZE"))
    for side, indices, builtin, op_name in sides:
        for pos, t_index in enumerate(list(indices)):
            t = sg.tensors[t_index]
            if t.type not in int_types or t.quantization is None or t.quantization.scale is None:
                continue
            f = float_twin(t_index, "_int8")
            op = schema.OperatorT()
            op.opcodeIndex = _opcode_index(schema, model, builtin, 2)
            op.inputs, op.outputs = ([f], [t_index]) if side == "input" else ([t_index], [f])
            added[side].append(op)
            indices[pos] = f
            remap[t_index] = f
            changed.append(f"{side} {_tensor_name(sg, f)}: {_type_name(schema, t.type)} -> float32 ({op_name} added)")
    if not changed:
        raise UnsupportedError(f"{src} has no int8/uint8 inputs or outputs to convert")
    sg.operators = [*added["input"], *sg.operators, *added["output"]]
    for sig in model.signatureDefs or []:
        if sig.subgraphIndex not in (0, None):
            continue
        for tm in [*(sig.inputs or []), *(sig.outputs or [])]:
            tm.tensorIndex = remap.get(tm.tensorIndex, tm.tensorIndex)
    fb.write_model(model, str(dst))
    return changed


def _tensor_name(sg, index: int) -> str:  # noqa: ANN001
    n = sg.tensors[index].name
    return n.decode() if isinstance(n, bytes) else str(n)


def _type_name(schema, t: int) -> str:  # noqa: ANN001
    return _enum_names(schema.TensorType).get(t, str(t)).lower()


def padv2_as_pad(src: Path, dst: Path) -> int:
    """Rewrite every quantized PADV2 whose pad value equals its input's zero point (it pads with real 0) as PAD,
    which pads quantized tensors with the zero point: the same values from an op the Edge TPU documents.
    litert-torch lowers a padded MaxPool2d after a ReLU to exactly that PADV2. Returns how many were rewritten
    (``dst`` is written only when that is more than 0)."""
    import numpy as np

    schema, fb, model = _read(src)
    rewritten = 0
    for sg in model.subgraphs:
        for op in sg.operators:
            oc = model.operatorCodes[op.opcodeIndex]
            if max(int(oc.builtinCode or 0), int(oc.deprecatedBuiltinCode or 0)) != schema.BuiltinOperator.PADV2:
                continue
            if op.inputs is None or len(op.inputs) != 3:
                continue
            x, value = sg.tensors[op.inputs[0]], sg.tensors[op.inputs[2]]
            q = x.quantization
            data = model.buffers[value.buffer].data if value.buffer < len(model.buffers) else None
            if x.type not in (schema.TensorType.INT8, schema.TensorType.UINT8) or q is None or q.zeroPoint is None \
                    or len(q.zeroPoint) != 1 or data is None or len(data) != 1:
                continue
            pad_value = np.frombuffer(bytes(data), dtype=np.int8 if x.type == schema.TensorType.INT8 else np.uint8)[0]
            if int(pad_value) != int(q.zeroPoint[0]):
                continue
            op.opcodeIndex = _opcode_index(schema, model, schema.BuiltinOperator.PAD, 2)
            op.inputs = list(op.inputs[:2])
            op.builtinOptionsType = schema.BuiltinOptions.PadOptions
            op.builtinOptions = schema.PadOptionsT()
            rewritten += 1
    if rewritten:
        fb.write_model(model, str(dst))
    return rewritten
