"""OpenVINO Runtime on CPU, with the compute precision made explicit.

OpenVINO's CPU plugin picks bf16 by default on CPUs with AVX512_BF16 or AMX (this machine): ResNet-50 logits
then differ from torch by 0.175 (f32: 3e-5), which would hide real export errors and mislabel an "fp32"
benchmark. So this runtime asks for f32 unless told otherwise (``RuntimeOptions.inference_precision``), and
reports the precision the compiled model actually runs (read back from it) in :meth:`describe`.
Settings: ``PERFORMANCE_HINT=LATENCY`` (one stream) and ``INFERENCE_NUM_THREADS`` = the job's threads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.errors import (
    InferenceError,
    InvalidModelFileError,
    UnsupportedError,
    first_line,
)
from dlcompress.toolkit.runtimes.base import (
    RUNTIMES,
    Runtime,
    RuntimeOptions,
    feed_summary,
)

PRECISIONS = ("f32", "bf16", "f16", "default")
EXACT = "f32"


def compile_config(options: RuntimeOptions) -> dict[str, Any]:
    """The CPU plugin settings for ``options`` (``default`` leaves the precision to the plugin)."""
    precision = options.inference_precision or EXACT
    if precision not in PRECISIONS:
        raise UnsupportedError(f"OpenVINO inference precision {precision!r} is not supported",
                               f"use one of: {', '.join(PRECISIONS)}")
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": options.num_threads}
    if precision != "default":
        config["INFERENCE_PRECISION_HINT"] = precision
    return config


def tensor_name(port: Any, preferred: list[str], index: int) -> str:
    """The port's name that the spec uses, else any of its names, else a positional one."""
    names = port.get_names()
    for n in preferred:
        if n in names:
            return n
    return sorted(names)[0] if names else f"output{index}"


@RUNTIMES.register("openvino")
class OpenVinoRuntime(Runtime):
    """An OpenVINO IR (``.xml`` + ``.bin``) compiled for the CPU plugin."""

    name = "openvino"
    formats = frozenset({Format.OPENVINO})
    precisions = PRECISIONS

    def __init__(self, artifact: Artifact, options: RuntimeOptions) -> None:
        import openvino as ov

        super().__init__(artifact, options)
        if options.device != "cpu":
            raise UnsupportedError(f"the OpenVINO runtime here runs on the CPU, not {options.device!r}", "use --device cpu")
        core = ov.Core()
        try:
            model = core.read_model(str(artifact.path))
            self.compiled = core.compile_model(model, "CPU", compile_config(options))
        except RuntimeError as e:
            raise InvalidModelFileError(f"OpenVINO cannot load {artifact.path}: {first_line(e) or type(e).__name__}") from None
        self.request = self.compiled.create_infer_request()
        spec_in = [t.name for t in artifact.spec.inputs]
        spec_out = [t.name for t in artifact.spec.outputs]
        self._inputs = [tensor_name(p, spec_in, i) for i, p in enumerate(self.compiled.inputs)]
        self._outputs = [tensor_name(p, spec_out, i) for i, p in enumerate(self.compiled.outputs)]
        self._checked: list[tuple[int, ...]] | None = None

    @property
    def input_names(self) -> list[str]:
        return list(self._inputs)

    @property
    def output_names(self) -> list[str]:
        return list(self._outputs)

    @property
    def inference_precision(self) -> str:
        """The precision the compiled model runs its float ops in (``f32``, ``bf16``, ``f16``)."""
        return self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()

    def _check_shapes(self, arrays: list[np.ndarray]) -> None:
        """OpenVINO may run a feed of the wrong shape without an error (seen: one thread, 3 channels into a
        1-channel model gave an empty output), so shapes are checked here, once per new set of shapes."""
        import openvino as ov

        shapes = [a.shape for a in arrays]
        if shapes == self._checked:
            return
        for name, port, shape in zip(self._inputs, self.compiled.inputs, shapes):
            declared = port.get_partial_shape()
            if not declared.compatible(ov.PartialShape(list(shape))):
                given = feed_summary(dict(zip(self._inputs, arrays)))
                raise InferenceError(f"OpenVINO model {self.artifact.path.name} expects {name} of shape {declared}",
                                     f"inputs given: {given}")
        self._checked = shapes

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = [np.ascontiguousarray(a) for a in self.arrays(feeds, self._inputs)]
        self._check_shapes(arrays)
        try:
            result = self.request.infer(dict(enumerate(arrays)))
        except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError with a multi-line check trace
            raise InferenceError(f"OpenVINO failed to run {self.artifact.path.name}: {first_line(e, lines=4)}",
                                 f"inputs given: {feed_summary(feeds)}") from None
        return {n: np.array(result[port]) for n, port in zip(self._outputs, self.compiled.outputs)}

    def describe(self) -> dict[str, object]:
        import openvino as ov

        c = self.compiled
        return {**super().describe(), "version": ov.__version__.split("-")[0], "device": "CPU",
                "precision": self.artifact.precision, "inference_precision": self.inference_precision,
                "requested_precision": self.options.inference_precision or EXACT,
                "performance_hint": str(c.get_property("PERFORMANCE_HINT")),
                "streams": int(c.get_property("NUM_STREAMS")),
                "threads": int(c.get_property("INFERENCE_NUM_THREADS"))}
