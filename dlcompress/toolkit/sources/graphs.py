"""Graph datasets for node classification (networkx; nothing downloaded).

- ``karate-club``: Zachary's karate club (34 members, 78 friendships, the two factions after the split) with
  identity features, as in Kipf & Welling's featureless setting. Transductive: every split is the same
  graph; four members are labelled for training, the other 30 are the held-out evaluation nodes.
- ``communities``: generated graphs (a stochastic block model whose blocks are the classes) with node
  features from ``sklearn.datasets.make_classification`` (noisy, partly informative): the graph structure
  carries class information the features alone do not. One graph per item, the model's feature and class
  counts; held-out graphs come from other seeds.

Labels are per node; -1 marks nodes that are not scored (training nodes in the held-out split).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from dlcompress.toolkit.errors import DatasetError
from dlcompress.toolkit.feeds import (
    FeedSource,
    FeedSplits,
    class_accuracy,
    feed_dataset,
    input_of,
    spec_dim,
)

KARATE_TRAIN_NODES = (0, 1, 32, 33)  # the two leaders and one close ally of each
TRAIN_GRAPHS, TEST_GRAPHS = 16, 8


def _networkx():  # noqa: ANN202
    try:
        import networkx as nx
    except ImportError:
        raise DatasetError("the graph datasets need networkx", "pip install networkx") from None
    return nx


def _sizes(spec, dataset: str) -> tuple[int, int]:  # noqa: ANN001
    """(features, classes) of a GCN spec."""
    features = input_of(spec, "features", dataset).shape[-1]
    input_of(spec, "adjacency", dataset)
    classes = spec.card.num_classes or spec.outputs[0].shape[-1]
    if not isinstance(features, int) or not isinstance(classes, int):
        raise DatasetError(f"{spec.name} must declare its feature and class counts to use {dataset}")
    return features, classes


@feed_dataset("karate-club")
def load_karate_club(spec) -> FeedSplits:  # noqa: ANN001
    """Zachary's karate club: predict each member's faction from the friendship graph."""
    nx = _networkx()
    features, classes = _sizes(spec, "karate-club")
    graph = nx.karate_club_graph()
    n = graph.number_of_nodes()
    if features != n or classes != 2:
        raise DatasetError(f"karate-club has {n} identity features and 2 classes; {spec.name} takes {features} "
                           f"features and {classes} classes", "use gcn_tiny, or the communities dataset")
    adjacency = nx.to_numpy_array(graph, nodelist=range(n), weight=None, dtype=np.float32)
    labels = np.array([graph.nodes[i]["club"] != "Mr. Hi" for i in range(n)], dtype=np.int64)
    x = {"features": np.eye(n, dtype=np.float32)[None], "adjacency": adjacency[None]}
    train_mask = np.isin(np.arange(n), KARATE_TRAIN_NODES)
    return FeedSplits(
        "karate-club",
        FeedSource(x, np.where(train_mask, labels, -1)[None]),
        FeedSource(x, np.where(train_mask, -1, labels)[None]),
        "real graph: Zachary's karate club (networkx), factions after the split; 4 labelled members, 30 held out",
        class_accuracy("node_accuracy", axis=-1), num_classes=2, class_names=("Mr. Hi", "Officer"),
    )


@lru_cache(maxsize=4)
def community_graphs(nodes: int, features: int, classes: int, count: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` graphs of ``nodes`` nodes: features [count, nodes, features], adjacency, labels [count, nodes]."""
    nx = _networkx()
    from sklearn.datasets import make_classification

    xs = np.zeros((count, nodes, features), dtype=np.float32)
    adj = np.zeros((count, nodes, nodes), dtype=np.float32)
    ys = np.zeros((count, nodes), dtype=np.int64)
    for g in range(count):
        x, y = make_classification(n_samples=nodes, n_features=features, n_informative=min(features, 8),
                                   n_redundant=0, n_classes=classes, n_clusters_per_class=1, class_sep=0.6,
                                   flip_y=0.3, random_state=seed * 1000 + g)
        order = np.argsort(y, kind="stable")
        x, y = x[order], y[order]
        sizes = np.bincount(y, minlength=classes).tolist()
        p_in, p_out = min(1.0, 8.0 / max(1, nodes // classes)), min(1.0, 1.0 / max(1, nodes - nodes // classes))
        probs = [[p_in if i == j else p_out for j in range(classes)] for i in range(classes)]
        graph = nx.stochastic_block_model(sizes, probs, seed=seed * 1000 + g)
        adj[g] = nx.to_numpy_array(graph, nodelist=range(nodes), weight=None, dtype=np.float32)
        xs[g], ys[g] = x, y
    return xs, adj, ys


@feed_dataset("communities")
def load_communities(spec) -> FeedSplits:  # noqa: ANN001
    """Generated community graphs whose communities are the classes (the model's feature and class counts)."""
    features, classes = _sizes(spec, "communities")
    nodes = spec_dim(spec, "nodes", 128)
    if nodes < 2 * classes:
        raise DatasetError(f"{spec.name} declares {nodes} nodes, too few for {classes} communities")

    def source(count: int, seed: int) -> FeedSource:
        x, a, y = community_graphs(nodes, features, classes, count, seed)
        return FeedSource({"features": x, "adjacency": a}, y)

    return FeedSplits(
        "communities", source(TRAIN_GRAPHS, 0), source(TEST_GRAPHS, 1),
        "generated graphs: stochastic block model (networkx) with make_classification features (scikit-learn); "
        "the blocks are the classes; held-out graphs use other seeds",
        class_accuracy("node_accuracy", axis=-1), synthetic=True, num_classes=classes,
    )
