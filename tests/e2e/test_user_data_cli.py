"""``--data`` with the user's own files through the CLI: sentences in a .txt on the real MiniLM folder, real
Fashion-MNIST images in an .npz on small_cnn (accuracy), an unlabelled folder of real photos on a 3-channel zoo
model (fidelity only); every bad input is one line, exit 2, and no output folder."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from dlcompress.toolkit.sources.tokenized_text import sentence_splits
from tests.conftest import CliResult

QUICK = ("--calib-samples", "4", "--eval-samples", "6", "--bench-seconds", "1")


def assert_one_line_error(result, out, *fragments):
    assert result.code == 2, (result.code, result.err)
    lines = [ln for ln in result.err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("dlcompress: error: ") and "Traceback" not in result.err, result.err
    for f in fragments:
        assert f in lines[0], lines[0]
    assert not out.exists()


@pytest.fixture(scope="module")
def sentences_txt(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "sentences.txt"
    path.write_text("\n\n".join(sentence_splits()[0][:24]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fashion_npz(tmp_path_factory):
    """48 real Fashion-MNIST test images (float64 NCHW in [0, 1], cast to float32 on reading) and their labels."""
    from dlcompress.toolkit.data import load_dataset

    d = load_dataset("fashion-mnist")
    x = (d.test.batch(range(48)).astype(np.float64) / 255.0).transpose(0, 3, 1, 2)
    path = tmp_path_factory.mktemp("arrays") / "fashion.npz"
    np.savez(path, input=x, labels=d.test.labels[:48])
    return path


@pytest.mark.slow  # the real MiniLM; issue 9: a heavy end-to-end run, in CI's slow step so the default command stays under 15 min
def test_quantize_minilm_on_a_txt_file(cli, minilm_folder, sentences_txt, tmp_path):
    out = tmp_path / "q"
    r = cli("quantize", "--model", minilm_folder, "--data", sentences_txt, *QUICK, "--out", out, "--json")
    assert r.code == 0, r.err
    rep = json.loads(r.out)
    assert rep["data"]["name"] == "sentences.txt" and not rep["data"]["labelled"] and rep["data"]["metric"] is None
    assert "24 items of sentences.txt" in rep["data"]["provenance"]
    _, int8 = rep["rows"]
    assert int8["fidelity"]["samples"] == 6 and int8["fidelity"]["cosine"] > 0.9 and int8.get("metric") is None
    assert any("sentences.txt" in n for n in rep["notes"]) and (out / "model.int8.onnx").exists()


def test_quantize_small_cnn_on_an_npz_reports_accuracy(cli, fashion_npz, tmp_path):
    out = tmp_path / "q"
    r = cli("quantize", "--model", "small_cnn", "--data", fashion_npz, *QUICK, "--out", out, "--json")
    assert r.code == 0, r.err
    rep = json.loads(r.out)
    assert rep["data"]["name"] == "fashion.npz" and rep["data"]["labelled"] and rep["data"]["metric"] == "accuracy"
    for row in rep["rows"]:
        assert row["metric"]["name"] == "accuracy" and row["metric"]["samples"] == 6
        assert 0.0 <= row["metric"]["value"] <= 1.0


def test_bench_takes_the_npz_and_its_label_array(cli, fashion_npz, tmp_path):
    renamed = tmp_path / "renamed.npz"
    with np.load(fashion_npz) as z:
        np.savez(renamed, input=z["input"], classes=z["labels"])
    r = cli("bench", "--model", "small_cnn", "--data", renamed, "--label-column", "classes", "--backends", "onnxruntime",
            "--precisions", "fp32", "--eval-samples", "6", "--bench-seconds", "1", "--out", tmp_path / "b", "--json")
    assert r.code == 0, r.err
    rep = json.loads(r.out)
    assert rep["data"]["name"] == "renamed.npz" and rep["data"]["labelled"]
    assert [row["metric"]["name"] for row in rep["rows"] if row.get("metric")] == ["accuracy"]


def test_quantize_on_a_flat_folder_of_photos_is_fidelity_only(cli, tmp_path):
    import skimage.data
    from PIL import Image

    folder = tmp_path / "shots"
    folder.mkdir()
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry"):
        img = getattr(skimage.data, name)()
        for k in range(2):
            Image.fromarray(img[k * 60 : k * 60 + 128, k * 40 : k * 40 + 160]).save(folder / f"{name}-{k}.png")
    out = tmp_path / "q"
    r = cli("quantize", "--model", "vit_b_16_tiny", "--data", folder, *QUICK, "--out", out, "--json")
    assert r.code == 0, r.err
    rep = json.loads(r.out)
    assert rep["data"]["name"] == "shots" and not rep["data"]["labelled"] and rep["data"]["metric"] is None
    assert rep["data"]["evaluation_samples"] == 2  # 20% of 10 held out
    assert all(row.get("metric") is None and row["fidelity"]["samples"] == 2 for row in rep["rows"])


@pytest.mark.slow
def test_quantize_a_text_classifier_on_a_labelled_csv(cli, minilm_folder, tmp_path):
    """MiniLM with a (random-init) 2-class head on a CSV of sentences labelled by where they come from."""
    train, test = sentence_splits()
    path = tmp_path / "sources.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "sentence", "part"])
        for i, s in enumerate(train[:16] + test[:16]):
            w.writerow([i, s, "calibration" if i < 16 else "held-out"])
    r = cli("quantize", "--model", minilm_folder, "--task", "text-classification", "--data", path,
            "--text-column", "sentence", "--label-column", "part", *QUICK, "--out", tmp_path / "q", "--json")
    assert r.code == 0, r.err
    rep = json.loads(r.out)
    assert rep["data"]["metric"] == "accuracy" and "2 classes: calibration, held-out" in rep["data"]["provenance"]
    assert all(row["metric"]["name"] == "accuracy" for row in rep["rows"])


# ---------------------------------------------------------------------------------------------------------
# bad input: one line, exit 2, nothing written


def test_missing_and_empty_files(cli, tmp_path):
    out = tmp_path / "o"
    assert_one_line_error(cli("quantize", "--model", "small_cnn", "--data", tmp_path / "nope.txt", "--out", out),
                          out, "nope.txt does not exist")
    (tmp_path / "empty.jsonl").write_text("")
    assert_one_line_error(cli("quantize", "--model", "small_cnn", "--data", tmp_path / "empty.jsonl", "--out", out),
                          out, "empty.jsonl is empty")


@pytest.mark.slow  # the real MiniLM in a subprocess; issue 9: a heavy end-to-end run, in CI's slow step so the default command stays under 15 min
def test_a_named_column_that_is_missing(minilm_folder, tmp_path):
    """In a process of its own: in-process, the libraries' first-import warnings and transformers' progress bar
    reach the captured stderr, which the CLI sends to its log."""
    path = tmp_path / "t.csv"
    path.write_text("text,label\n" + "".join(f'"{s}",a\n' for s in sentence_splits()[0][:6]))
    out = tmp_path / "o"
    done = subprocess.run([sys.executable, "-m", "dlcompress", "export", "--model", str(minilm_folder), "--data",
                           str(path), "--text-column", "body", "--out", str(out)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert_one_line_error(CliResult(done.returncode, done.stdout, done.stderr), out, "no column 'body'",
                          "its columns: text, label")


def test_labels_not_all_present(cli, tmp_path):
    path = tmp_path / "gaps.jsonl"
    path.write_text("".join(json.dumps({"text": s, **({"label": "a"} if i % 2 else {})}) + "\n"
                            for i, s in enumerate(sentence_splits()[0][:6])))
    out = tmp_path / "o"
    assert_one_line_error(cli("quantize", "--model", "small_cnn", "--data", path, "--label-column", "label",
                              "--out", out), out, "3 of 6 items of gaps.jsonl have no 'label' label")


def test_unknown_suffix_and_columns_for_a_dataset(cli, tmp_path):
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    out = tmp_path / "o"
    assert_one_line_error(cli("quantize", "--model", "small_cnn", "--data", tmp_path / "data.parquet", "--out", out),
                          out, "no .parquet data files", ".csv, .jsonl, .npz, .txt")
    assert_one_line_error(cli("quantize", "--model", "small_cnn", "--data", "digits", "--text-column", "text",
                              "--out", out), out, "--text-column names a column of a data file")


def test_npz_keys_that_are_not_the_inputs(cli, fashion_npz, tmp_path):
    wrong = tmp_path / "wrong.npz"
    with np.load(fashion_npz) as z:
        np.savez(wrong, pixels=z["input"])
    out = tmp_path / "o"
    assert_one_line_error(cli("quantize", "--model", "small_cnn", "--data", wrong, "--out", out), out,
                          "wrong.npz holds pixels", "small_cnn takes (input[batch,1,28,28]:float32)")


def test_a_text_file_for_an_image_model(cli, sentences_txt, tmp_path):
    out = tmp_path / "o"
    assert_one_line_error(cli("quantize", "--model", "small_cnn", "--data", sentences_txt, "--out", out), out,
                          "sentences.txt is text but small_cnn takes images", "folder of images")


def _stateful_onnx(path):
    """A recurrent-style step as silero-vad's: ``x[batch, 16]``, ``state[2, batch, 8]`` (batch on axis 1) and a
    scalar ``sr`` (int64) -> ``out[batch, 4]``, ``stateN[2, batch, 8]``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(16, 8)).astype(np.float32), "w")
    head = numpy_helper.from_array(rng.normal(size=(8, 4)).astype(np.float32), "head")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("Cast", ["sr"], ["srf"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["h", "srf"], ["hs"]),
        helper.make_node("Add", ["state", "hs"], ["sum"]),  # [2, batch, 8] + [batch, 8]
        helper.make_node("Tanh", ["sum"], ["stateN"]),
        helper.make_node("ReduceMean", ["stateN"], ["pooled"], axes=[0], keepdims=0),
        helper.make_node("MatMul", ["pooled", "head"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes, "step",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", 8]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("stateN", TensorProto.FLOAT, [2, "batch", 8])], [w, head])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_npz_with_a_scalar_input_and_a_state_batched_on_axis_1(cli, tmp_path):
    """The state's array comes in the model's own layout ([2, items, 8]) and the scalar is fed with every batch;
    the quantized model is measured on them (fidelity of its first output)."""
    import onnxruntime as ort

    model = _stateful_onnx(tmp_path / "step.onnx")
    rng = np.random.default_rng(1)
    x, state = rng.normal(size=(40, 16)).astype(np.float32), rng.normal(size=(2, 40, 8)).astype(np.float32)
    np.savez(tmp_path / "steps.npz", x=x, state=state, sr=np.array(4, np.int32))
    out = tmp_path / "q"
    r = cli("quantize", "--model", model, "--data", tmp_path / "steps.npz", "--backend", "onnxruntime", *QUICK,
            "--out", out, "--json")
    assert r.code == 0, r.err
    rep = json.loads((out / "report.json").read_text())
    assert "fed as they are: sr[]:int64" in rep["data"]["provenance"] and "batch axis state: 1" in rep["data"]["provenance"]
    int8 = rep["rows"][-1]
    assert int8["fidelity"]["cosine"] > 0.95, int8["fidelity"]
    # the delivered model still takes the state batch-second and the scalar
    session = ort.InferenceSession(str(next(out.glob("*.int8.onnx"))), providers=["CPUExecutionProvider"])
    outs = session.run(None, {"x": x[:3], "state": state[:, :3], "sr": np.array(4, np.int64)})
    assert outs[0].shape == (3, 4) and outs[1].shape == (2, 3, 8)


def test_npz_bad_scalar_and_state_arrays(cli, tmp_path):
    model = _stateful_onnx(tmp_path / "step.onnx")
    x, state = np.zeros((6, 16), np.float32), np.zeros((2, 6, 8), np.float32)
    cases = {
        "per-item sr": (dict(x=x, state=state, sr=np.full(6, 4, np.int64)),
                        ["sr in step is a scalar input (sr[]:int64)", "sr[6]:int64", "store sr as a 0-d array"]),
        "state of 5 items": (dict(x=x, state=state[:, :5], sr=np.array(4)),
                             ["differ in length along the batch axis", "state[2, 5, 8]:float32"]),
    }
    for name, (arrays, fragments) in cases.items():
        np.savez(tmp_path / "bad.npz", **arrays)
        out = tmp_path / "q"
        assert_one_line_error(cli("quantize", "--model", model, "--data", tmp_path / "bad.npz", "--out", out), out,
                              *fragments)
