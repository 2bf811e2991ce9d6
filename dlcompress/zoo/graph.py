"""Graph networks: the GCN of Kipf & Welling for node classification (in-house, dense adjacency).

Inputs are node features ``[batch, nodes, features]`` and a dense 0/1 adjacency ``[batch, nodes, nodes]``
(no self loops; one graph per batch item, zero rows for padding nodes). The model adds the self loops and the
symmetric normalisation ``D^-1/2 (A + I) D^-1/2`` itself, without materialising ``I``, so the exported graph
is plain MatMul/Mul/Add/Pow with a dynamic node count. (``edge_index`` inputs would need scatter ops whose
output size depends on the data; a dense adjacency exports and quantizes cleanly.)
"""

from __future__ import annotations

import torch
from torch import nn

from dlcompress.toolkit.spec import ModelCard, ModelSpec, TensorSpec, Tolerance
from dlcompress.zoo.evaluators import register_task_evaluators
from dlcompress.zoo.registry import register

KIPF = "Kipf & Welling, Semi-Supervised Classification with Graph Convolutional Networks, ICLR 2017 (arXiv:1609.02907)"


def normalized_propagation(adjacency: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``D^-1/2 (A + I) D^-1/2 @ h`` with ``D`` the degree of ``A + I`` (batched, dense)."""
    scale = (adjacency.sum(-1, keepdim=True) + 1.0).rsqrt()  # [batch, nodes, 1]
    hs = h * scale
    return (torch.matmul(adjacency, hs) + hs) * scale


def normalized_adjacency(adjacency: torch.Tensor) -> torch.Tensor:
    """The matrix ``D^-1/2 (A + I) D^-1/2`` itself (for inspection and tests)."""
    eye = torch.eye(adjacency.shape[-1], dtype=adjacency.dtype)
    return normalized_propagation(adjacency, eye.expand_as(adjacency))


class GCNLayer(nn.Module):
    """``H' = Â H W`` (the activation is applied by the caller)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.linear = nn.Linear(cin, cout)

    def forward(self, adjacency: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return normalized_propagation(adjacency, self.linear(h))


class GCN(nn.Module):
    """Two graph convolutions with a ReLU and dropout between them; per-node class logits (the paper's
    softmax is left to the loss). The paper's citation-network setting is 16 hidden units, dropout 0.5."""

    def __init__(self, in_features: int = 1433, hidden: int = 16, num_classes: int = 7, dropout: float = 0.5) -> None:
        super().__init__()
        self.layer1 = GCNLayer(in_features, hidden)
        self.drop = nn.Dropout(dropout)
        self.layer2 = GCNLayer(hidden, num_classes)

    def forward(self, features: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        h = self.drop(torch.relu(self.layer1(adjacency, self.drop(features))))
        return self.layer2(adjacency, h)


def _register(name: str, tiny_of: str | None, nodes: int, data: str, **args: int) -> None:
    register(ModelSpec(
        name=name, task="node-classification", builder=GCN,
        inputs=(TensorSpec("features", ("batch", "nodes", args["in_features"])),
                TensorSpec("adjacency", ("batch", "nodes", "nodes"))),
        outputs=(TensorSpec("logits", ("batch", "nodes", args["num_classes"])),), build_args=args,
        dims={"nodes": nodes},
        tolerance=Tolerance(atol=1e-4, rtol=1e-3),
        card=ModelCard(family="gcn", paper=KIPF, default_data=data, num_classes=args["num_classes"], tiny_of=tiny_of),
    ))


# Cora-sized (1433 bag-of-words features, 7 classes) on generated community graphs; the tiny variant fits
# Zachary's karate club (34 members, identity features, the two factions as classes).
_register("gcn", None, 512, "communities", in_features=1433, hidden=16, num_classes=7)
_register("gcn_tiny", "gcn", 34, "karate-club", in_features=34, hidden=8, num_classes=2)

register_task_evaluators(("node-classification",))
