"""The memory probe: real ONNX models measured by ONNX Runtime in a fresh child process. Checks the result's
structure, that a model with ~1600x the weights (26 MB vs 16 kB) reports clearly more memory (ordering with a
wide margin, no absolute numbers), and that failures come back as None (the report then says n/a)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from dlcompress.benchmarks.memprobe import peak_memory

SMALL, LARGE = 64, 2560  # MatMul weights n x n float32: 16 kB and 26.2 MB


def _matmul_model(path, n: int):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((n, n)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _inputs(n: int, batch: int = 1) -> list[dict]:
    return [{"name": "x", "shape": [batch, n], "dtype": "float32"}]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("memprobe")
    return {n: _matmul_model(d / f"matmul{n}.onnx", n) for n in (SMALL, LARGE)}


@pytest.fixture(scope="module")
def probed(models):
    return {n: peak_memory("onnxruntime", models[n], _inputs(n), threads=1) for n in (SMALL, LARGE)}


def test_result_structure(probed):
    for n, mem in probed.items():
        assert mem is not None, f"probe of the {n}x{n} model failed"
        assert set(mem) == {"baseline_rss_mb", "peak_rss_mb", "model_mb"}
        assert all(isinstance(v, float) and v >= 0 for v in mem.values()), mem
        assert mem["peak_rss_mb"] >= mem["baseline_rss_mb"] > 0
        assert mem["model_mb"] == pytest.approx(mem["peak_rss_mb"] - mem["baseline_rss_mb"], abs=0.11)
        assert mem == json.loads(json.dumps(mem))  # plain JSON, as it goes into report.json


def test_larger_model_reports_more_memory(probed):
    small, large = probed[SMALL], probed[LARGE]
    weights_mb = LARGE * LARGE * 4 / 2**20  # 25 MiB of weights must be resident to run the model
    assert large["peak_rss_mb"] > small["peak_rss_mb"]
    assert large["model_mb"] - small["model_mb"] >= 0.5 * weights_mb, (small, large)
    # the baseline is taken before the model is loaded: it does not depend on the model
    assert abs(large["baseline_rss_mb"] - small["baseline_rss_mb"]) < 0.5 * weights_mb


def test_batch_and_threads_are_accepted(models):
    mem = peak_memory("onnxruntime", models[SMALL], _inputs(SMALL, batch=4), threads=2)
    assert mem is not None and mem["peak_rss_mb"] >= mem["baseline_rss_mb"]


def test_child_does_not_import_torch_for_onnxruntime(models):
    """The child imports only the runtime it needs, so torch's own memory is not charged to an ONNX model."""
    code = ("import sys, json; from dlcompress.benchmarks.memprobe import _probe; "
            f"_probe('onnxruntime', {str(models[SMALL])!r}, {_inputs(SMALL)!r}, 1); "
            "print(json.dumps('torch' in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) is False


def test_failures_come_back_as_none(models, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07garbage" * 10)
    assert peak_memory("onnxruntime", broken, _inputs(SMALL), threads=1) is None
    assert peak_memory("onnxruntime", tmp_path / "missing.onnx", _inputs(SMALL), threads=1) is None
    assert peak_memory("onnxruntime", models[SMALL], _inputs(SMALL), threads=1, timeout=0.001) is None


def test_probes_side_by_side_each_measure_their_own_model(tmp_path):
    """Two probes run at once report what each runs alone reports: its own model's memory, not the other's."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from dlcompress.benchmarks.memprobe import peak_memories, peak_memory

    def model(path, n):  # one MatMul with an n x n weight: n*n*4 bytes of model
        w = numpy_helper.from_array(np.ones((n, n), np.float32), "w")
        graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])], [w])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
        return [{"name": "x", "shape": [1, n], "dtype": "float32"}]

    small, big = tmp_path / "small.onnx", tmp_path / "big.onnx"
    probes = [("onnxruntime", small, model(small, 64), 1, None, "fp32"), ("onnxruntime", big, model(big, 4096), 1, None, "fp32")]
    together = peak_memories(probes)
    alone = peak_memory(*probes[1][:4])
    assert together[1]["model_mb"] > 50 > together[0]["model_mb"]  # 64 MB of weights against 16 kB
    assert abs(together[1]["model_mb"] - alone["model_mb"]) < 0.25 * alone["model_mb"]
