"""Hugging Face model folders (``config.json`` + weights, local files only): a torch module with named tensor
outputs and a ModelSpec for the task.

The task comes from the folder: a sentence-transformers folder (``modules.json``) is a ``sentence-embedding``
model whose output is the pooled (and, where the folder says so, L2-normalised) embedding the library itself
returns; otherwise the ``architectures`` entry of ``config.json`` names it (``...ForSequenceClassification`` ->
``text-classification`` ...). ``--task`` overrides. Text models are fed from text through the folder's own
tokenizer (``hints["text"]["tokenizer"]``); nothing is ever fetched from the hub.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlcompress.toolkit.artifact import Artifact, Format, StageRecord
from dlcompress.toolkit.errors import ModelLoadError, first_line
from dlcompress.toolkit.spec import ModelCard, ModelSpec, TensorSpec, Tolerance

TEXT_TASKS = ("sentence-embedding", "feature-extraction", "text-classification", "token-classification", "causal-lm")
TASKS = (*TEXT_TASKS,)
DEFAULT_SEQ = 16  # tokens per generated input; real text is padded or cut to this length
SUFFIX_TASKS = (("ForSequenceClassification", "text-classification"), ("ForTokenClassification", "token-classification"),
                ("ForCausalLM", "causal-lm"), ("LMHeadModel", "causal-lm"))
AUTO_CLASSES = {"sentence-embedding": "AutoModel", "feature-extraction": "AutoModel",
                "text-classification": "AutoModelForSequenceClassification",
                "token-classification": "AutoModelForTokenClassification", "causal-lm": "AutoModelForCausalLM"}


@lru_cache(maxsize=8)
def load_tokenizer(folder: str) -> Any:
    """The tokenizer in ``folder`` (local files only), loaded once per process: the model loader, the text
    dataset and an ONNX file's ``--tokenizer`` all ask for it."""
    if not Path(folder).is_dir():
        raise ModelLoadError(f"--tokenizer {folder} is not a folder", "give a folder with tokenizer.json or vocab files")
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise ModelLoadError("tokenizing text needs transformers", "pip install transformers") from None
    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as e:  # noqa: BLE001 - transformers raises many kinds for a folder without tokenizer files
        raise ModelLoadError(f"no tokenizer can be loaded from {folder}: {first_line(e) or type(e).__name__}",
                             "give --tokenizer a folder with tokenizer.json or vocab files") from None


def is_hf_folder(name: str) -> bool:
    """A folder with a ``config.json``: a Hugging Face model folder."""
    path = Path(name)
    return path.is_dir() and (path / "config.json").is_file()


def check_hf_folder(name: str) -> None:
    """Fail before any work on a folder that is not a model folder."""
    path = Path(name)
    if not path.is_dir():
        raise ModelLoadError(f"model folder {name} does not exist")
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"{name} is a folder without config.json, so not a Hugging Face model folder",
                             "point --model at the folder that holds config.json and the weights")


def folder_task(path: Path, config: dict[str, Any]) -> str:
    """The task the folder declares: sentence-transformers modules, else the architecture's suffix."""
    if (path / "modules.json").is_file():
        return "sentence-embedding"
    for arch in config.get("architectures") or ():
        for suffix, task in SUFFIX_TASKS:
            if arch.endswith(suffix):
                return task
    return "feature-extraction"


def load_hf_folder(name: str, task: str | None = None, seq: int | None = None) -> Artifact:
    """The folder's model as a torch artifact for ``task`` (the folder's own when None)."""
    check_hf_folder(name)
    path = Path(name).resolve()
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{path / 'config.json'} is not valid JSON: {first_line(e)}") from None
    task = task or folder_task(path, config)
    if task not in TASKS:
        raise ModelLoadError(f"--task {task} is not a task dlcompress can run on a Hugging Face folder",
                             f"use one of: {', '.join(TASKS)}")
    try:
        import transformers
    except ImportError:
        raise ModelLoadError("Hugging Face folders need transformers", "pip install transformers") from None
    auto = getattr(transformers, AUTO_CLASSES[task])
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # heads a checkpoint lacks are initialised the same way on every run
            # eager attention: ONNX Runtime's transformer optimizer fuses its export into Attention ops
            # (the SDPA export it does not recognise); the same maths
            model = auto.from_pretrained(str(path), local_files_only=True, attn_implementation="eager").eval()
        tokenizer = load_tokenizer(str(path))
    except Exception as e:  # noqa: BLE001 - transformers raises OSError, ValueError, KeyError ... for bad folders
        arch = ", ".join(config.get("architectures") or [config.get("model_type", "?")])
        raise ModelLoadError(f"transformers cannot build {arch} from {path} offline: {first_line(e)}",
                             "the folder needs config.json, the weights and the tokenizer files") from None
    accepted = set(tokenizer.model_input_names)
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted]
    wrapped, outputs = _wrap(task, model, path, config)
    vocab = int(getattr(model.config, "vocab_size", None) or len(tokenizer))
    inputs = tuple(TensorSpec(n, ("batch", "seq"), "int64", (0, vocab) if n == "input_ids" else (1, 2)) for n in names)
    spec = ModelSpec(
        name=path.name, task=task, builder=lambda: wrapped, inputs=inputs, outputs=outputs,
        dims={"seq": seq or DEFAULT_SEQ},
        tolerance=Tolerance(atol=1e-4, rtol=1e-3),
        card=ModelCard(family="huggingface", paper=", ".join(config.get("architectures") or []),
                       default_data="text-sentences",
                       num_classes=int(model.config.num_labels) if task == "text-classification" else None),
        hints={"quantize": {"method": "dynamic"}, "text": {"tokenizer": str(path)},
               # the TorchScript exporter first: it takes transformers' modules in seconds where dynamo's trace
               # and decompositions take ~15 s for a 6-layer BERT (measured on 2 cores); the result is validated
               "onnx": {"routes": ("torchscript", "dynamo")},
               "onnxruntime": {"transformer": ort_transformer(config)}},
    )
    params = sum(p.numel() for p in model.parameters())
    record = StageRecord("load", {"huggingface": str(path), "task": task},
                         {"architecture": config.get("architectures"), "params": params, "inputs": names})
    return Artifact(Format.TORCH, spec, model=wrapped, lineage=(record,))


ORT_MODEL_TYPES = {t: "bert" for t in ("bert", "roberta", "xlm-roberta", "distilbert", "electra", "camembert")}
"""config.json ``model_type`` -> the ``model_type`` of ONNX Runtime's transformer optimizer whose fusions
(Attention, SkipLayerNormalization, BiasGelu, EmbedLayerNormalization) fit it; dynamic int8 runs on the fused graph."""


def ort_transformer(config: dict[str, Any]) -> dict[str, Any] | None:
    """What ONNX Runtime's transformer optimizer needs to fuse this architecture (it cannot find the head count
    and width of an export itself), or None when it has no fusions for it."""
    model_type = ORT_MODEL_TYPES.get(str(config.get("model_type", "")))
    heads = config.get("num_attention_heads") or config.get("n_heads")
    hidden = config.get("hidden_size") or config.get("dim")
    if not (model_type and heads and hidden):
        return None
    return {"model_type": model_type, "num_heads": int(heads), "hidden_size": int(hidden)}


def _wrap(task: str, model: nn.Module, path: Path, config: dict[str, Any]) -> tuple[nn.Module, tuple[TensorSpec, ...]]:
    hidden = int(config.get("hidden_size") or config.get("n_embd") or config.get("d_model") or 0)
    if task == "sentence-embedding":
        pooling = _pooling_config(path)
        out = TensorSpec("sentence_embedding", ("batch", int(pooling.get("word_embedding_dimension") or hidden)), value_range=(-1.0, 1.0))
        return SentenceEmbedding(model, _pooling_mode(pooling), _normalizes(path)).eval(), (out,)
    if task == "feature-extraction":
        return OneOutput(model, "last_hidden_state").eval(), (TensorSpec("last_hidden_state", ("batch", "seq", hidden)),)
    logits = OneOutput(model, "logits").eval()
    if task == "text-classification":
        return logits, (TensorSpec("logits", ("batch", int(model.config.num_labels))),)
    if task == "token-classification":
        return logits, (TensorSpec("logits", ("batch", "seq", int(model.config.num_labels))),)
    return logits, (TensorSpec("logits", ("batch", "seq", int(model.config.vocab_size))),)


def _modules(path: Path) -> list[dict[str, Any]]:
    try:
        return json.loads((path / "modules.json").read_text())
    except (OSError, ValueError):
        return []


def _pooling_config(path: Path) -> dict[str, Any]:
    for m in _modules(path):
        if str(m.get("type", "")).endswith("Pooling"):
            try:
                return json.loads((path / m.get("path", "") / "config.json").read_text())
            except (OSError, ValueError):
                break
    return {"pooling_mode_mean_tokens": True}


def _pooling_mode(pooling: dict[str, Any]) -> str:
    for mode in ("cls_token", "max_tokens", "mean_sqrt_len_tokens", "mean_tokens"):
        if pooling.get(f"pooling_mode_{mode}"):
            return mode
    return "mean_tokens"


def _normalizes(path: Path) -> bool:
    return any(str(m.get("type", "")).endswith("Normalize") for m in _modules(path))


class SentenceEmbedding(nn.Module):
    """The transformer, pooled over the attention mask as sentence-transformers pools, then L2-normalised
    where the folder has a Normalize module."""

    def __init__(self, transformer: nn.Module, mode: str, normalize: bool) -> None:
        super().__init__()
        self.transformer, self.mode, self.normalize = transformer, mode, normalize

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        tokens = self.transformer(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        if self.mode == "cls_token":
            pooled = tokens[:, 0]
        elif self.mode == "max_tokens":
            pooled = tokens.masked_fill(mask == 0, -1e9).max(dim=1).values
        else:
            summed, count = (tokens * mask).sum(1), mask.sum(1).clamp(min=1e-9)
            pooled = summed / (count.sqrt() if self.mode == "mean_sqrt_len_tokens" else count)
        return nn.functional.normalize(pooled, p=2, dim=1) if self.normalize else pooled


class OneOutput(nn.Module):
    """One field of a transformers model's output (``last_hidden_state``, ``logits``) as a plain tensor: no cache,
    no dict."""

    def __init__(self, model: nn.Module, field: str) -> None:
        super().__init__()
        self.model, self.field = model, field

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        extra: dict[str, Any] = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        if getattr(self.model.config, "is_decoder", False) or "CausalLM" in type(self.model).__name__:
            extra["use_cache"] = False
        return getattr(self.model(input_ids=input_ids, attention_mask=attention_mask, **extra), self.field)
