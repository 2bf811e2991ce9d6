"""Sequence models: the encoder-decoder Transformer (in-house around ``torch.nn.Transformer``), BERT and GPT-2
(Hugging Face ``transformers`` definitions built from configs: random init, nothing downloaded).

Every entry takes int64 token ids ``[batch, seq]`` with a symbolic ``seq`` (a dynamic axis on export). The
Hugging Face models are wrapped so ``forward`` takes tensors and returns a tensor. Their default init sets all
biases to 0 and all LayerNorm weights to 1; the ONNX exporter then de-duplicates those identical tensors and
ONNX Runtime's QOperator quantizer writes an invalid model, so the builders add small seeded noise to biases and
LayerNorm weights (see :func:`break_symmetry`). Transformers quantize with ORT's dynamic int8 by default: it is
the accurate int8 path for them (activations are quantized per run, per tensor, from their real range).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dlcompress.toolkit.spec import ModelCard, ModelSpec, TensorSpec, Tolerance
from dlcompress.zoo.evaluators import register_task_evaluators
from dlcompress.zoo.registry import register

VASWANI = "Vaswani et al., Attention Is All You Need, 2017 (arXiv:1706.03762)"
DEVLIN = ("Devlin et al., BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding, 2018 "
          "(arXiv:1810.04805)")
RADFORD = "Radford et al., Language Models are Unsupervised Multitask Learners (GPT-2), 2019"
TEXT_CLASSES = 4  # the text-topics dataset: passages from four scikit-learn dataset descriptions


def sinusoidal_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """``PE[pos, 2i] = sin(pos / 10000^(2i/d))``, ``PE[pos, 2i+1] = cos(...)`` as a ``[max_len, d_model]`` table."""
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention over ``heads`` heads (explicit matmuls: exports with dynamic lengths)."""

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.scale = heads, (d_model // heads) ** -0.5
        self.q, self.k, self.v, self.o = (nn.Linear(d_model, d_model) for _ in range(4))
        self.drop = nn.Dropout(dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # [b, n, d] -> [b, heads, n, d/heads]
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self._split(self.q(x)), self._split(self.k(memory)), self._split(self.v(memory))
        scores = torch.matmul(q, k.transpose(-2, -1)) * self.scale
        if mask is not None:
            scores = scores + mask
        attn = self.drop(torch.softmax(scores, dim=-1))
        return self.o(torch.matmul(attn, v).transpose(1, 2).flatten(2))


class TransformerLayer(nn.Module):
    """A post-norm encoder layer, or (``cross=True``) a decoder layer with attention over the encoder output."""

    def __init__(self, d_model: int, heads: int, ffn: int, dropout: float, cross: bool = False) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, heads, dropout) if cross else None
        self.ffn = nn.Sequential(nn.Linear(d_model, ffn), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ffn, d_model))
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(3 if cross else 2))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norms[0](x + self.drop(self.self_attn(x, x, mask)))
        if self.cross_attn is not None:
            x = self.norms[1](x + self.drop(self.cross_attn(x, memory)))
        return self.norms[-1](x + self.drop(self.ffn(x)))


class Seq2SeqTransformer(nn.Module):
    """The translation Transformer (base: d=512, 8 heads, 6+6 layers, FFN 2048): shared source/target
    embedding scaled by sqrt(d), sinusoidal positions, post-norm encoder and decoder layers, a causal target
    mask, and an output projection tied to the embedding. ``forward(src_ids, tgt_ids)`` returns next-token
    logits ``[batch, tgt_seq, vocab]`` (teacher forcing).

    In-house rather than ``torch.nn.Transformer``: in eval mode that module takes a fused fast path
    (``aten::_transformer_encoder_layer_fwd``) the TorchScript exporter cannot convert, and ``torch.export``
    fails on its stride checks once the sequence length is dynamic.
    """

    def __init__(self, vocab_size: int = 32000, d_model: int = 512, heads: int = 8, layers: int = 6,
                 ffn: int = 2048, dropout: float = 0.1, max_len: int = 1024) -> None:
        super().__init__()
        self.d_model = d_model
        self.embed = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.embed.weight, std=d_model ** -0.5)
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.ModuleList(TransformerLayer(d_model, heads, ffn, dropout) for _ in range(layers))
        self.decoder = nn.ModuleList(TransformerLayer(d_model, heads, ffn, dropout, cross=True) for _ in range(layers))
        self.out = nn.Linear(d_model, vocab_size, bias=False)
        self.out.weight = self.embed.weight  # weight tying, as in the paper

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.drop(self.embed(ids) * math.sqrt(self.d_model) + self.pe[: ids.shape[1]])

    def forward(self, src_ids: torch.Tensor, tgt_ids: torch.Tensor) -> torch.Tensor:
        memory = self._embed(src_ids)
        for layer in self.encoder:
            memory = layer(memory)
        n = tgt_ids.shape[1]
        causal = torch.triu(torch.full((n, n), float("-inf"), device=tgt_ids.device), diagonal=1)
        h = self._embed(tgt_ids)
        for layer in self.decoder:
            h = layer(h, memory, causal)
        return self.out(h)


def break_symmetry(model: nn.Module, seed: int = 0, bias_std: float = 0.02, norm_std: float = 0.05) -> nn.Module:
    """Seeded noise on every bias and LayerNorm weight, so no two initializers are identical.

    Hugging Face init makes all biases 0 and all LayerNorm weights 1; the dynamo ONNX exporter merges those
    identical tensors into one and ORT's QOperator quantizer then writes an invalid model ("Type
    'tensor(uint8)' of input parameter ... of operator (QGemm) ... is invalid"). Trained checkpoints never
    look like that, so this only makes a random-init model representative.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm) and module.weight is not None:
                module.weight.add_(torch.randn(module.weight.shape, generator=g) * norm_std)
            for name, p in module.named_parameters(recurse=False):
                if name == "bias":
                    p.add_(torch.randn(p.shape, generator=g) * bias_std)
    return model


class BertClassifier(nn.Module):
    """``BertForSequenceClassification`` with tensor I/O: ``(input_ids, attention_mask) -> logits``."""

    def __init__(self, vocab_size: int = 30522, hidden: int = 768, layers: int = 12, heads: int = 12,
                 ffn: int = 3072, num_labels: int = TEXT_CLASSES, max_positions: int = 512) -> None:
        super().__init__()
        from transformers import BertConfig, BertForSequenceClassification

        config = BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                            num_attention_heads=heads, intermediate_size=ffn, num_labels=num_labels,
                            max_position_embeddings=max_positions, attn_implementation="eager")
        self.bert = break_symmetry(BertForSequenceClassification(config))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # An additive [batch, 1, 1, seq] mask: Hugging Face skips a 0/1 mask that is all ones by testing its
        # values, a data-dependent branch that a traced export (or a meta-device MAC count) cannot take.
        additive = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        return self.bert(input_ids=input_ids, attention_mask=additive, return_dict=False)[0]


class GptLM(nn.Module):
    """``GPT2LMHeadModel`` (no KV cache) with tensor I/O: ``(input_ids, attention_mask) -> logits``."""

    def __init__(self, vocab_size: int = 50257, hidden: int = 768, layers: int = 12, heads: int = 12,
                 max_positions: int = 1024) -> None:
        super().__init__()
        from transformers import GPT2Config, GPT2LMHeadModel

        config = GPT2Config(vocab_size=vocab_size, n_embd=hidden, n_layer=layers, n_head=heads,
                            n_positions=max_positions, use_cache=False, attn_implementation="eager",
                            bos_token_id=vocab_size - 1, eos_token_id=vocab_size - 1)
        self.gpt = break_symmetry(GPT2LMHeadModel(config))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.gpt(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, return_dict=False)[0]


def token_inputs(vocab: int, *names: str) -> tuple[TensorSpec, ...]:
    """int64 ``[batch, seq]`` inputs: token ids below ``vocab`` and an all-ones attention mask."""
    return tuple(TensorSpec(n, ("batch", "seq"), "int64", (1, 2) if n == "attention_mask" else (0, vocab))
                 for n in names)


def _register_transformer(name: str, tiny_of: str | None, seq: int, **args: int) -> None:
    vocab = args["vocab_size"]
    register(ModelSpec(
        name=name, task="translation", builder=Seq2SeqTransformer,
        inputs=(TensorSpec("src_ids", ("batch", "src_seq"), "int64", (0, vocab)),
                TensorSpec("tgt_ids", ("batch", "tgt_seq"), "int64", (0, vocab))),
        outputs=(TensorSpec("logits", ("batch", "tgt_seq", vocab)),), build_args=args,
        dims={"src_seq": seq, "tgt_seq": seq}, hints={"quantize": {"method": "dynamic"}},
        tolerance=Tolerance(atol=1e-3, rtol=1e-3),
        card=ModelCard(family="transformer", paper=VASWANI, default_data="text-pairs", tiny_of=tiny_of),
    ))


def _register_bert(name: str, tiny_of: str | None, seq: int, **args: int) -> None:
    register(ModelSpec(
        name=name, task="text-classification", builder=BertClassifier,
        inputs=token_inputs(args["vocab_size"], "input_ids", "attention_mask"),
        outputs=(TensorSpec("logits", ("batch", TEXT_CLASSES)),), build_args={**args, "num_labels": TEXT_CLASSES},
        dims={"seq": seq}, hints={"quantize": {"method": "dynamic"}},
        tolerance=Tolerance(atol=1e-4, rtol=1e-3),
        card=ModelCard(
            family="bert", paper=DEVLIN, default_data="text-topics", num_classes=TEXT_CLASSES, tiny_of=tiny_of,
        ),
    ))


def _register_gpt(name: str, tiny_of: str | None, seq: int, **args: int) -> None:
    vocab = args["vocab_size"]
    register(ModelSpec(
        name=name, task="language-modeling", builder=GptLM,
        inputs=token_inputs(vocab, "input_ids", "attention_mask"),
        outputs=(TensorSpec("logits", ("batch", "seq", vocab)),), build_args=args, dims={"seq": seq},
        hints={"quantize": {"method": "dynamic"}},
        tolerance=Tolerance(atol=1e-3, rtol=1e-3),
        card=ModelCard(family="gpt", paper=RADFORD, default_data="text-lm", tiny_of=tiny_of),
    ))


_register_transformer("transformer", None, 64, vocab_size=32000, d_model=512, heads=8, layers=6, ffn=2048)
_register_transformer("transformer_tiny", "transformer", 16, vocab_size=1000, d_model=32, heads=2, layers=2, ffn=64)
_register_bert("bert", None, 128, vocab_size=30522, hidden=768, layers=12, heads=12, ffn=3072)
_register_bert("bert_tiny", "bert", 32, vocab_size=1000, hidden=32, layers=2, heads=2, ffn=64)
_register_gpt("gpt", None, 128, vocab_size=50257, hidden=768, layers=12, heads=12)
_register_gpt("gpt_tiny", "gpt", 32, vocab_size=1000, hidden=32, layers=2, heads=2)

register_task_evaluators(("text-classification", "language-modeling", "translation"))
