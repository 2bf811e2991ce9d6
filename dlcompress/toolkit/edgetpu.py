"""Edge TPU readiness of a full-int8 ``.tflite``: which ops the Edge TPU compiler can map, which fall back
to the CPU, and why.

The table below is data copied (paraphrased) from Coral's documentation, "TensorFlow models on the Edge
TPU", section "Supported operations" (https://coral.ai/docs/edgetpu/models-intro/#supported-operations),
for Edge TPU compiler/runtime 14-16 (the last releases). It keys the documented op names by their TFLite
builtin names. The same page states the rules this check applies:

- every tensor must be 8-bit quantized (int8/uint8; int32 biases); float tensors cannot run on the TPU;
- sizes must be constant at compile time (no dynamic dims);
- tensors have at most 3 dimensions greater than 1 (the innermost three), so a batch > 1 does not map;
- the compiler partitions the graph once: it maps one segment starting at the first op it supports; at the
  first op it cannot map, that op and *everything after it* run on the CPU, even ops it supports.
- a model with more than one subgraph (control flow) is not supported.

This is a static reading of the file, not the compiler: limitations in the third column are listed for the
user to check (the compiler may still leave such an op on the CPU, e.g. a large ResizeBilinear).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from dlcompress.toolkit.tflite_model import (
    INTEGER_TYPES,
    OpInfo,
    TFLiteGraph,
    read_graph,
)

SOURCE = ("Coral, 'TensorFlow models on the Edge TPU', Supported operations "
          "(https://coral.ai/docs/edgetpu/models-intro/#supported-operations), compiler/runtime v14-16")

# TFLite builtin op -> documented limitation ("" = none listed). Every op not in this table is unsupported.
SUPPORTED: dict[str, str] = {
    "ADD": "",
    "AVERAGE_POOL_2D": "no fused activation function",
    "CONCATENATION": "no fused activation function; a compile-time constant input is allowed only as the second "
                     "of exactly two inputs and must be all zeros (a zero-padding op)",
    "CONV_2D": "same dilation in x and y",
    "DEPTHWISE_CONV_2D": "same dilation in x and y",
    "EXPAND_DIMS": "",
    "FULLY_CONNECTED": "only the default weights format; output tensor one-dimensional",
    "L2_NORMALIZATION": "",
    "LOGISTIC": "",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "unidirectional LSTM only",
    "MAXIMUM": "",
    "MAX_POOL_2D": "no fused activation function",
    "MEAN": "no reduction over the batch dimension; a z (channel) reduction needs a multiple of 4 channels",
    "MINIMUM": "",
    "MUL": "",
    "PACK": "no packing along the batch dimension",
    "PAD": "no padding along the batch dimension",
    "PRELU": "alpha must be constant and one-dimensional (only the innermost dimension > 1)",
    "QUANTIZE": "",
    "REDUCE_MAX": "not over the batch dimension",
    "REDUCE_MIN": "not over the batch dimension",
    "RELU": "",
    "RELU6": "",
    "RELU_N1_TO_1": "",
    "RESHAPE": "some reshapes of large tensors are not mapped",
    "RESIZE_BILINEAR": "3-D input/output; depending on the sizes the compiler may keep it on the CPU (precision)",
    "RESIZE_NEAREST_NEIGHBOR": "3-D input/output; depending on the sizes the compiler may keep it on the CPU (precision)",
    "RSQRT": "",
    "SLICE": "",
    "SOFTMAX": "1-D input with at most 16,000 elements",
    "SPACE_TO_DEPTH": "",
    "SPLIT": "no splitting along the batch dimension",
    "SQUARED_DIFFERENCE": "",
    "SQUEEZE": "",
    "STRIDED_SLICE": "all strides 1, ellipsis-axis-mask 0, new-axis-mask 0",
    "SUB": "",
    "SUM": "not over the batch dimension",
    "TANH": "",
    "TRANSPOSE": "not over the batch dimension",
    "TRANSPOSE_CONV": "",
}

TPU, CPU_UNSUPPORTED, CPU_AFTER, CPU_BEFORE = "tpu", "cpu", "cpu (after fallback)", "cpu (before segment)"


@dataclass(frozen=True)
class OpCheck:
    """One op: where it would run and why."""

    index: int
    op: str
    placement: str
    reason: str = ""
    limitation: str = ""


@dataclass(frozen=True)
class EdgeTpuReport:
    """The readiness verdict for one file."""

    path: str
    ops: tuple[OpCheck, ...]
    integer_io: bool
    full_integer: bool
    problems: tuple[str, ...] = ()
    source: str = SOURCE
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def tpu_ops(self) -> int:
        return sum(o.placement == TPU for o in self.ops)

    @property
    def cpu_ops(self) -> int:
        return len(self.ops) - self.tpu_ops

    @property
    def first_fallback(self) -> OpCheck | None:
        return next((o for o in self.ops if o.placement == CPU_UNSUPPORTED), None)

    def summary(self) -> str:
        n = len(self.ops)
        if self.tpu_ops == n:
            return f"all {n} ops would run on the Edge TPU"
        first = self.first_fallback
        where = f"; CPU fallback from op {first.index} {first.op} ({first.reason})" if first else ""
        return f"{self.tpu_ops} of {n} ops would run on the Edge TPU, {self.cpu_ops} on the CPU{where}"

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d.update(tpu_ops=self.tpu_ops, cpu_ops=self.cpu_ops, summary=self.summary())
        return d


def _short(name: str, width: int = 48) -> str:
    """A tensor name without its long module path (litert-torch names tensors after the torch module stack)."""
    tail = name.rsplit("/", 1)[-1]
    return tail if len(tail) <= width else tail[:width - 3] + "..."


def _why_not(graph: TFLiteGraph, op: OpInfo) -> str:
    """Why ``op`` cannot be mapped ("" if it can)."""
    if op.subgraph != 0:
        return "in a second subgraph (more than one subgraph is not supported)"
    if op.custom:
        return f"custom op {op.name}"
    if op.name not in SUPPORTED:
        return f"{op.name} is not a supported operation"
    for i in (*op.inputs, *op.outputs):
        t = graph.tensor(op.subgraph, i)
        role = "input" if i in op.inputs else "output"
        if t.constant:  # weights must be 8-bit, biases/shapes/axes int32
            if t.dtype not in (*INTEGER_TYPES, "INT32"):
                return f"constant {_short(t.name)} is {t.dtype.lower()} (not 8-bit quantized)"
            continue
        if t.dtype not in INTEGER_TYPES:
            return f"{role} {_short(t.name)} is {t.dtype.lower()} (not 8-bit quantized)"
        if t.dynamic:
            return f"{role} {_short(t.name)} has a dynamic shape {list(t.shape_signature)}"
        if any(d > 1 for d in t.shape[:-3]):
            return f"{role} {_short(t.name)} {list(t.shape)} has more than 3 dimensions greater than 1"
    return ""


def check_edgetpu(path: Path) -> EdgeTpuReport:
    """Place every op of ``path`` on the Edge TPU or the CPU, following the compiler's documented rules."""
    graph = read_graph(Path(path))
    checks: list[OpCheck] = []
    state = "before"  # before the mapped segment, inside it, or after the first fallback
    for k, op in enumerate(graph.ops):
        reason = _why_not(graph, op)
        limitation = SUPPORTED.get(op.name, "")
        if state == "before" and reason:
            checks.append(OpCheck(k, op.name, CPU_BEFORE, reason, limitation))
            continue
        if state == "before":
            state = "inside"
        if state == "inside" and reason:
            state = "after"
            checks.append(OpCheck(k, op.name, CPU_UNSUPPORTED, reason, limitation))
        elif state == "after":
            checks.append(OpCheck(k, op.name, CPU_AFTER, reason or "after the first op that falls back (the compiler "
                                  "partitions once)", limitation))
        else:
            checks.append(OpCheck(k, op.name, TPU, "", limitation))
    if checks and all(c.placement == CPU_BEFORE for c in checks):
        checks = [OpCheck(c.index, c.op, CPU_UNSUPPORTED, c.reason, c.limitation) for c in checks]
    integer_io = all(d in INTEGER_TYPES for d in (*graph.input_dtypes, *graph.output_dtypes))
    float_tensors = [_short(t.name) for t in graph.float_activations()]
    full_integer = not float_tensors
    problems: list[str] = []
    if not full_integer:
        problems.append(f"not full-integer: {len(float_tensors)} float activation tensor(s) (e.g. "
                        f"{', '.join(float_tensors[:2])}); the Edge TPU runs only 8-bit quantized tensors: "
                        "quantize with `dlcompress quantize --backend litert --int8-io`")
    elif not integer_io:
        problems.append(f"float model inputs/outputs ({', '.join(graph.input_dtypes)} -> {', '.join(graph.output_dtypes)}): "
                        "their QUANTIZE/DEQUANTIZE run on the CPU; quantize with --int8-io for integer I/O")
    if len(graph.tensors) > 1:
        problems.append(f"{len(graph.tensors)} subgraphs: the Edge TPU compiler supports one")
    notes = ("static check against the documented op table; the Edge TPU compiler (edgetpu_compiler) has the last word",)
    return EdgeTpuReport(str(path), tuple(checks), integer_io, full_integer, tuple(problems), notes=notes)
