"""The LiteRT backend: litert-torch export (fp32, fp16) validated in the LiteRT interpreter, PT2E int8 with
real calibration data (float and integer I/O), static-shape batch handling, the root cause of a model
torch.export cannot take, the Edge TPU check, and `dlcompress quantize --backend litert` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dlcompress.exporters.validate import validate_outputs
from dlcompress.recipes.loading import load_model
from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.errors import ExportError, InputShapeError, UnsupportedError
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.runtimes import RuntimeOptions, open_runtime
from dlcompress.toolkit.stages.quantize import QuantizeOptions, check_options, quantize

pytestmark = pytest.mark.litert
pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_litert")

OPTIONS = RuntimeOptions(2)


def export(art: Artifact, path: Path, precision: str = "fp32") -> Artifact:
    from dlcompress.exporters import ExportOptions
    from dlcompress.exporters.litert import LiteRTExporter

    return LiteRTExporter(precision).export(art, path, ExportOptions())


def feeds_for(art: Artifact) -> list[dict[str, np.ndarray]]:
    """Batches of 2 and 8: LiteRT models are exported at batch 1, so these exercise resize / chunking."""
    return [art.spec.example_inputs(2, seed=s) for s in range(2)] + [art.spec.example_inputs(8, seed=5)]


def fashion(n: int, split: str = "test", batch: int = 50) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
    from dlcompress.toolkit.data import ImageTransform, load_dataset

    source = getattr(load_dataset("fashion-mnist"), split).head(n)
    transform = ImageTransform(1, (28, 28), None, None)
    feeds = [{"input": transform(source.batch(range(i, min(i + batch, n))))} for i in range(0, n, batch)]
    return feeds, source.labels


@pytest.fixture(scope="module")
def small_cnn(tmp_path_factory) -> tuple[Artifact, Artifact]:  # noqa: ANN001
    """small_cnn (random init) and its fp32 .tflite."""
    torch.manual_seed(0)
    art = load_model("small_cnn", ModelOptions())
    return art, export(art, tmp_path_factory.mktemp("lt") / "small_cnn.tflite")


@pytest.fixture(scope="module")
def small_int8(small_cnn, tmp_path_factory) -> Artifact:  # noqa: ANN001
    """The default static int8 (float I/O), calibrated on 64 real Fashion-MNIST training images."""
    calib, _ = fashion(64, "train", 8)
    return quantize(small_cnn[1], QuantizeOptions(), calib, tmp_path_factory.mktemp("lt8") / "m.int8.tflite")


def test_registered_backend_exporter_runtime():
    from dlcompress.exporters import EXPORTERS
    from dlcompress.toolkit.backends import BACKENDS
    from dlcompress.toolkit.runtimes import DEFAULT_RUNTIME, get_runtime

    backend = BACKENDS.get("litert").require()
    assert (backend.format, backend.suffix, backend.extra) == (Format.LITERT, ".tflite", "litert")
    assert EXPORTERS.get(backend.exporter).available()
    assert get_runtime(backend.runtime).name == DEFAULT_RUNTIME["litert"] == "litert"


def test_missing_extra_is_a_clear_error(monkeypatch):
    import importlib.util

    from dlcompress.toolkit.backends import BACKENDS
    from dlcompress.toolkit.errors import BackendUnavailableError
    from dlcompress.toolkit.litert_convert import litert_torch_module

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "litert_torch" else real(name, *a))
    with pytest.raises(BackendUnavailableError, match=r"litert_torch.*pip install 'dlcompress\[litert\]'"):
        BACKENDS.get("litert").require()
    with pytest.raises(BackendUnavailableError, match="litert-torch"):
        litert_torch_module()


def test_small_cnn_export_validates_and_chunks_batches(small_cnn):
    torch_art, lite = small_cnn
    assert lite.format is Format.LITERT and lite.source is torch_art and lite.path.stat().st_size > 0
    rec = lite.lineage[-1]
    assert rec.stage == "export" and rec.params["route"] == "litert-torch" and rec.params["batch"] == 1
    rt = open_runtime(lite, OPTIONS)
    result = validate_outputs(open_runtime(torch_art, OPTIONS), rt, feeds_for(torch_art),
                              torch_art.spec.tolerance.atol, torch_art.spec.tolerance.rtol)
    assert result.passed, result.summary()
    assert rt.output_names == ["logits"] and rt.input_names == ["input"]
    # the 1-channel input becomes a RESHAPE that XNNPACK cannot resize: batches run as batch-1 calls
    assert "consecutive calls" in rt.describe()["other_batches"]


def test_wrong_item_shape_is_a_clear_error(small_cnn):
    rt = open_runtime(small_cnn[1], OPTIONS)
    with pytest.raises(InputShapeError, match="static-shape"):
        rt.run({"input": np.zeros((2, 1, 32, 32), np.float32)})


@pytest.fixture(scope="module")
def resnet18_lite(tmp_path_factory):  # noqa: ANN001, ANN201
    """ResNet-18 (random init, 3x224x224) and its fp32 .tflite, converted once for the tests that need both."""
    art = load_model("resnet18", ModelOptions())
    return art, export(art, tmp_path_factory.mktemp("r18") / "r18.tflite")


@pytest.mark.slow  # real-size ResNet-18; issue 9: a heavy end-to-end run, in CI's slow step so the default command stays under 15 min
def test_resnet18_export_validates_and_resizes(resnet18_lite):
    art, lite = resnet18_lite
    rt = open_runtime(lite, OPTIONS)
    result = validate_outputs(open_runtime(art, OPTIONS), rt, feeds_for(art), art.spec.tolerance.atol, art.spec.tolerance.rtol)
    assert result.passed, result.summary()
    assert rt.describe()["other_batches"] == "input resized to the feed's batch"


def test_fp16_export_halves_size_and_stays_close(small_cnn, tmp_path):
    from dlcompress.toolkit.tflite_model import read_graph

    torch_art, fp32 = small_cnn
    fp16 = export(torch_art, tmp_path / "fp16.tflite", "fp16")
    assert fp16.precision == "fp16" and fp16.lineage[-1].params["weights"] == "float16"
    assert fp16.size_bytes < 0.6 * fp32.size_bytes
    graph = read_graph(fp16.path)
    assert any(t.dtype == "FLOAT16" and t.constant for t in graph.tensors[0])
    assert graph.input_dtypes == ["FLOAT32"]
    feeds = feeds_for(torch_art)
    result = validate_outputs(open_runtime(torch_art, OPTIONS), open_runtime(fp16, OPTIONS), feeds, 1e-2, 1e-2)
    assert result.passed, result.summary()


def test_static_int8_float_io_with_real_calibration(small_cnn, small_int8):
    from dlcompress.toolkit.tflite_model import read_graph

    fp32, int8 = small_cnn[1], small_int8
    rec = int8.lineage[-1]
    assert int8.format is Format.LITERT and int8.precision == "int8" and rec.stage == "quantize"
    assert rec.params["calibration_samples"] == 64 and rec.params["io"] == {"inputs": ["float32"], "outputs": ["float32"]}
    assert int8.size_bytes < 0.35 * fp32.size_bytes
    ops = [o.name for o in read_graph(int8.path).ops]
    assert ops[0] == "QUANTIZE" and ops[-1] == "DEQUANTIZE" and "CONV_2D" in ops
    feeds, _ = fashion(500)
    ref = np.concatenate([open_runtime(fp32, OPTIONS).run(f)["logits"] for f in feeds])
    out = np.concatenate([open_runtime(int8, OPTIONS).run(f)["logits"] for f in feeds])
    assert np.mean(ref.argmax(1) == out.argmax(1)) > 0.95


def test_option_checks_and_missing_source(small_cnn, tmp_path):
    with pytest.raises(UnsupportedError, match="ONNX Runtime quantizer"):
        check_options("litert", QuantizeOptions(quant_format="qdq"))
    with pytest.raises(UnsupportedError, match="--calibration entropy"):
        check_options("litert", QuantizeOptions(calibration="entropy"))
    from dlcompress.toolkit.stages.quantize_litert import LiteRTQuantizeOptions

    with pytest.raises(UnsupportedError, match="--int8-io needs full-integer"):
        check_options("litert", QuantizeOptions(method="dynamic", advanced=LiteRTQuantizeOptions(True)))
    orphan = Artifact(Format.LITERT, small_cnn[1].spec, path=small_cnn[1].path)  # a .tflite without its torch model
    with pytest.raises(UnsupportedError, match="no torch source"):
        quantize(orphan, QuantizeOptions(), [small_cnn[0].spec.example_inputs(2)], tmp_path / "x.tflite")


class DataDependent(torch.nn.Module):
    """Output shape depends on the values (like detection post-processing): torch.export cannot capture it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = x[x > 0.5]
        return keep.sum().reshape(1, 1) if keep.numel() > 10 else x.mean().reshape(1, 1)


def test_untraceable_model_reports_the_root_cause(tmp_path):
    from dlcompress.toolkit.spec import ModelCard, ModelSpec, TensorSpec

    spec = ModelSpec(
        name="data_dependent", task="custom", builder=DataDependent, inputs=(TensorSpec("x", ("batch", 3, 8, 8)),),
        outputs=(TensorSpec("y", ("batch", 1)),),
        card=ModelCard(family="test"),
    )
    with pytest.raises(ExportError) as err:
        export(Artifact(Format.TORCH, spec, model=DataDependent()), tmp_path / "dd.tflite")
    msg = str(err.value)
    assert "torch.export cannot capture the model" in msg and "GuardOnDataDependentSymNode" in msg
    assert "test_litert.py" in msg and "use the ONNX or OpenVINO format" in msg  # the user-code line and what to do
    assert len(msg.splitlines()) == 1 and not (tmp_path / "dd.tflite").exists()


def test_a_two_stage_detector_fails_with_reason(tmp_path):
    """Faster R-CNN's RoI heads take the RPN's NMS-selected proposals inside the network, so it has no cut
    before its data-dependent shapes: the error says so at once, before a torch.export attempt."""
    art = load_model("fasterrcnn_resnet50_fpn_tiny", ModelOptions())
    assert type(art.model.detector).__module__ == "torchvision.models.detection.faster_rcnn"
    with pytest.raises(ExportError, match="litert export of fasterrcnn_resnet50_fpn_tiny: a two-stage detector"):
        export(art, tmp_path / "det.tflite")
    assert not (tmp_path / "det.tflite").exists()


@pytest.mark.slow  # a detector export (about 15 s)
def test_a_one_stage_detector_exports_its_head_and_decodes_on_the_host(tmp_path):
    """Issue 12, item 3: RetinaNet's file ends at its raw head outputs; torchvision's decoding and NMS run on the
    host, and the decoded boxes match torch's within the spec's tolerance."""
    art = load_model("retinanet_resnet50_fpn_tiny", ModelOptions())
    lite = export(art, tmp_path / "det.tflite")
    assert lite.postprocess is not None and lite.postprocess.spec is art.spec
    assert [t.name for t in lite.spec.outputs] == ["cls_logits", "bbox_regression"] and lite.source.model is not art.model
    assert "NMS" in lite.lineage[-1].params["host_postprocess"]
    rt = open_runtime(lite, OPTIONS)
    assert rt.output_names == ["boxes", "scores", "labels"] and "NMS" in rt.describe()["host_postprocess"]
    feeds = [art.spec.example_inputs(1, seed=s) for s in range(2)]
    result = validate_outputs(open_runtime(art, OPTIONS), rt, feeds, art.spec.tolerance.atol, art.spec.tolerance.rtol)
    assert result.passed, result.summary()
    out = rt.run(feeds[0])
    assert out["boxes"].shape[1] == 4 and len(out["boxes"]) == len(out["scores"]) == len(out["labels"]) > 0


@pytest.mark.slow
def test_dynamic_range_int8_keeps_accuracy(trained_small_cnn, tmp_path):
    torch_art = load_model("small_cnn", ModelOptions(weights=str(trained_small_cnn)))
    fp32 = export(torch_art, tmp_path / "m.tflite")
    int8 = quantize(fp32, QuantizeOptions(method="dynamic"), None, tmp_path / "m.int8.tflite")
    assert int8.lineage[-1].params["activations"].startswith("int8 computed per run")
    feeds, labels = fashion(1000)
    acc = [np.mean(np.concatenate([open_runtime(a, OPTIONS).run(f)["logits"] for f in feeds]).argmax(1) == labels)
           for a in (fp32, int8)]
    assert abs(acc[0] - acc[1]) <= 0.01


@pytest.mark.slow  # issue 9: a heavy end-to-end run, in CI's slow step so the default command stays under 15 min
def test_cli_quantize_int8_io_keeps_accuracy_and_edgetpu_check(cli, trained_small_cnn, tmp_path):
    """Acceptance on real data: full-int8 with int8 I/O keeps top-1 within 1 point; the Edge TPU check maps it."""
    from dlcompress.toolkit.tflite_model import read_graph

    out = tmp_path / "q"
    r = cli("quantize", "--model", "small_cnn", "--weights", trained_small_cnn, "--data", "fashion-mnist",
            "--backend", "litert", "--int8-io", "--eval-samples", "2000", "--bench-seconds", "2", "--deliver", "quantized",
            "--bundle", "--out", out, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    fp32, int8 = report["rows"]
    assert (fp32["format"], fp32["status"], int8["precision"]) == ("litert", "validated", "int8")
    assert fp32["metric"]["samples"] == 2000 and fp32["metric"]["value"] > 0.7
    assert abs(int8["metric"]["value"] - fp32["metric"]["value"]) <= 0.01
    assert int8["fidelity"]["top1_agreement"] > 0.97
    assert {p.name for p in out.iterdir()} >= {"model.tflite", "model.int8.tflite", "report.json", "lineage.json"}
    graph = read_graph(out / "model.int8.tflite")
    assert graph.input_dtypes == ["INT8"] and graph.output_dtypes == ["INT8"]
    assert int8["execution"]["io"] == "int8"  # the runtime quantized the float feeds itself

    # --bundle: the manifest an app needs gives the int8 I/O scale and zero point the interpreter reports
    from ai_edge_litert.interpreter import Interpreter

    bundle = json.loads((out / "bundle.json").read_text())
    detail = Interpreter(model_path=str(out / "model.int8.tflite")).get_input_details()[0]
    assert bundle["model"] == "model.int8.tflite" and bundle["integer_io"]
    assert bundle["inputs"][0]["dtype"] == "int8" and bundle["inputs"][0]["zero_point"] == detail["quantization"][1]
    assert bundle["inputs"][0]["scale"] == pytest.approx(detail["quantization"][0])
    assert len(bundle["labels"]) == 10 and bundle["labels"][0] == "T-shirt/top"
    assert "bundle.json" in report["artifacts"] and f"{detail['quantization'][0]:.8g}f" in (out / "snippets/LiteRT.kt").read_text()

    r = cli("edgetpu-check", out / "model.int8.tflite", "--json")
    assert r.code == 0, r.err
    check = json.loads(r.out)
    assert [o["op"] for o in check["ops"]] == [o.name for o in graph.ops]
    assert check["tpu_ops"] + check["cpu_ops"] == len(graph.ops) and check["integer_io"] and check["full_integer"]
    assert check["cpu_ops"] == 0 and "Supported operations" in check["source"]
    r = cli("edgetpu-check", out / "model.int8.tflite")
    assert r.code == 0 and "CONV_2D" in r.out and f"all {len(graph.ops)} ops would run on the Edge TPU" in r.out

    # the float reference runs entirely on the CPU: every op has float tensors
    r = cli("edgetpu-check", out / "model.tflite", "--json")
    check = json.loads(r.out)
    assert check["tpu_ops"] == 0 and not check["full_integer"] and "not full-integer" in check["problems"][0]
    assert all(o["placement"] == "cpu" and "float32" in o["reason"] for o in check["ops"])


def test_edgetpu_check_float_io_counts_edge_ops(small_int8, tmp_path, cli):
    r = cli("edgetpu-check", small_int8.path, "--json")
    check = json.loads(r.out)
    placements = [o["placement"] for o in check["ops"]]
    assert placements[0] == "cpu (before segment)" and placements[-1] == "cpu"  # float QUANTIZE, DEQUANTIZE
    assert set(placements[1:-1]) == {"tpu"} and check["cpu_ops"] == 2 and not check["integer_io"]
    r = cli("edgetpu-check", tmp_path / "missing.tflite")
    assert r.code == 2 and "does not exist" in r.err


def test_shared_relu_calls_become_separate_partitions():
    """ResNet blocks reuse one ReLU module; split, every ReLU call is a one-output partition the int8
    annotators accept (otherwise the residual ADDs stay float and the model is not full-integer)."""
    import torchvision
    from torch.fx.passes.utils.source_matcher_utils import get_source_partitions

    from dlcompress.toolkit.stages.quantize_litert import split_shared_activation_calls

    graph = torch.export.export(torchvision.models.resnet18().eval(), (torch.randn(1, 3, 64, 64),)).module()
    outputs = lambda: [len(p.output_nodes) for p in get_source_partitions(graph.graph, [torch.nn.ReLU])[torch.nn.ReLU]]  # noqa: E731
    assert max(outputs()) > 1
    assert split_shared_activation_calls(graph) == 16  # 8 blocks x 2 calls of block.relu
    assert set(outputs()) == {1} and len(outputs()) == 17


@pytest.mark.slow
def test_resnet18_int8_is_full_integer_and_maps_to_the_edge_tpu(resnet18_lite, tmp_path):
    from dlcompress.toolkit.edgetpu import check_edgetpu
    from dlcompress.toolkit.stages.quantize_litert import LiteRTQuantizeOptions

    art, fp32 = resnet18_lite
    calib = [art.spec.example_inputs(4, seed=s) for s in range(4)]
    int8 = quantize(fp32, QuantizeOptions(advanced=LiteRTQuantizeOptions(integer_io=True)), calib, tmp_path / "r18.int8.tflite")
    params = int8.lineage[-1].params
    assert params["full_integer"] and params["shared_activation_calls_split"] == 16 and "PADV2" in params["rewrites"][0]
    report = check_edgetpu(int8.path)
    assert report.full_integer and report.integer_io
    assert report.cpu_ops == 0 and report.tpu_ops == len(report.ops), report.summary()


class Residual(torch.nn.Module):
    """MobileNetV2's inverted residual in miniature: a plain ``x + f(x)`` with no activation after it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


def test_bare_residual_adds_become_add_partitions():
    """torch.export leaves a plain residual add without a source record, so litert-torch's ADD annotator never
    sees it (the add stays float); tagged, it is a partition of its own and the tensors are unchanged."""
    import operator

    from torch.fx.passes.utils.source_matcher_utils import get_source_partitions

    from dlcompress.toolkit.stages.quantize_litert import tag_bare_adds

    x = torch.randn(1, 4, 8, 8)
    graph = torch.export.export(Residual().eval(), (x,)).module()
    adds = lambda: get_source_partitions(graph.graph, [operator.add]).get(operator.add, [])  # noqa: E731
    before = graph(x)
    assert adds() == []
    assert tag_bare_adds(graph) == 1 and len(adds()) == 1 and tag_bare_adds(graph) == 0
    assert torch.equal(graph(x), before)


@pytest.mark.slow  # real-size MobileNetV2 export + PT2E (about 75 s)
def test_mobilenet_v2_int8_io_is_integer_only_and_maps_to_the_edge_tpu(tmp_path):
    """Issue 12, item 4: before the ADD fix, 22 float tensors stayed between the int8 input and output and
    edgetpu-check mapped 17 of 92 ops."""
    from dlcompress.toolkit.edgetpu import check_edgetpu
    from dlcompress.toolkit.stages.quantize_litert import LiteRTQuantizeOptions

    art = load_model("mobilenet_v2", ModelOptions())
    fp32 = export(art, tmp_path / "mnv2.tflite")
    calib = [art.spec.example_inputs(4, seed=s) for s in range(2)]
    int8 = quantize(fp32, QuantizeOptions(advanced=LiteRTQuantizeOptions(integer_io=True)), calib, tmp_path / "mnv2.int8.tflite")
    params = int8.lineage[-1].params
    assert params["full_integer"] and params["bare_adds_tagged"] == 10 and "float_ops" not in params
    assert params["io"] == {"inputs": ["int8"], "outputs": ["int8"]}
    report = check_edgetpu(int8.path)
    assert report.full_integer and report.integer_io
    assert report.cpu_ops == 0 and report.tpu_ops == len(report.ops), report.summary()


class ReluMaxPool(torch.nn.Module):
    """The ResNet stem in miniature: conv, ReLU, padded max-pool (lowered to PADV2 + MAX_POOL_2D)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.pool, self.fc = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.MaxPool2d(3, 2, 1), torch.nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(torch.relu(self.conv(x))).mean((2, 3)))


def test_padv2_with_zero_point_becomes_pad_exactly(tmp_path, cli):
    from dlcompress.toolkit.spec import ModelCard, ModelSpec, TensorSpec
    from dlcompress.toolkit.stages.quantize_litert import quantize_pt2e
    from dlcompress.toolkit.tflite_model import padv2_as_pad, read_graph

    torch.manual_seed(0)
    spec = ModelSpec(
        name="stem", task="custom", builder=ReluMaxPool, inputs=(TensorSpec("x", ("batch", 3, 16, 16)),),
        outputs=(TensorSpec("y", ("batch", 4)),),
        card=ModelCard(family="test"),
    )
    art = Artifact(Format.TORCH, spec, model=ReluMaxPool().eval())
    raw, fixed = tmp_path / "raw.tflite", tmp_path / "fixed.tflite"
    quantize_pt2e(art, [spec.example_inputs(4, seed=s) for s in range(4)], raw, dynamic=False)
    assert "PADV2" in [o.name for o in read_graph(raw).ops]
    assert padv2_as_pad(raw, fixed) == 1
    assert [o.name for o in read_graph(fixed).ops].count("PAD") == [o.name for o in read_graph(raw).ops].count("PAD") + 1
    outs = [open_runtime(Artifact(Format.LITERT, spec, path=p), OPTIONS).run(spec.example_inputs(1, seed=9))["y"] for p in (raw, fixed)]
    assert np.array_equal(outs[0], outs[1])
    check = json.loads(cli("edgetpu-check", raw, "--json").out)
    assert check["ops"][check["tpu_ops"]]["op"] == "PADV2"  # the documented table has PAD, not PADV2
    check = json.loads(cli("edgetpu-check", fixed, "--json").out)
    assert check["cpu_ops"] == 0 and check["integer_io"]


def test_bundle_reads_the_tflite_back(small_int8, tmp_path):
    """The mobile bundle of a float-I/O int8 .tflite: tensors as the interpreter reports them (no scales: the
    app feeds floats), the image preprocessing, labels in output order, and a Kotlin snippet sized to them."""
    from dlcompress.exporters.bundle import image_preprocess, write_bundle
    from dlcompress.toolkit.data import ImageTransform

    labels = tuple(f"class {i}" for i in range(10))
    manifest, code = write_bundle(small_int8, tmp_path, image_preprocess(ImageTransform(1, (28, 28))), labels)
    m = json.loads(manifest.read_text())
    assert (m["schema"], m["format"], m["precision"], m["model"]) == ("dlcompress.bundle", "litert", "int8", "m.int8.tflite")
    assert m["inputs"] == [{"name": "input", "shape": [1, 1, 28, 28], "dtype": "float32", "scale": None, "zero_point": None}]
    assert m["outputs"][0]["name"] == "logits" and m["outputs"][0]["shape"] == [1, 10] and not m["integer_io"]
    assert m["labels"] == list(labels) and m["preprocess"]["size"] == [28, 28] and m["snippet"] == "snippets/LiteRT.kt"
    kotlin = code.read_text()
    assert code.name == "LiteRT.kt" and "allocateDirect(784 * 4)" in kotlin and "FloatArray(10)" in kotlin
