"""Selection strategies: which ``k`` unlabelled pool scenes to label next.

The rules themselves are small functions of arrays (features or scores, the labelled indices,
``k``), tested on hand-made examples; :func:`select` computes what each needs from a round's
trained networks and calls it. Random sampling, Core-set's k-center greedy and Gissin &
Shalev-Shwartz's discriminative active learning are scikit-activeml's (``RandomSampling``,
``CoreSet``, ``DiscriminativeAL``); Graph Density, VAAL, Learning Loss and DAL are written here.

* ``random``: k scenes uniformly at random.
* ``coreset``: k-center greedy (Sener & Savarese) on the pooled encoder features of the round's
  GG-CNN, euclidean: each pick is the scene farthest from everything labelled or picked.
* ``graph-density``: Ebert et al., as in Google's active-learning code: a symmetric kNN graph
  (k = 10, Manhattan distance, weights exp(-d / n_features)) on the down-sampled depth images;
  density = mean weight of a node's edges; each pick subtracts its density from its neighbours'.
  Model-free: the features are the images, not a network's.
* ``gissin``: Gissin & Shalev-Shwartz's discriminative AL on the round's GG-CNN features
  (standardised): an MLP (3 x 256) learns labelled vs unlabelled and the most unlabelled-like are
  picked, in about 20 sub-batches, each with a fresh discriminator that counts the earlier
  picks as labelled. DAL without the shared, jointly trained encoder.
* ``vaal``: Sinha et al.'s VAE and adversary (trained by :func:`.training.train_vaal`); the
  unlabelled scenes whose latent means the adversary finds least labelled-like.
* ``learning-loss``: Yoo & Kweon; the unlabelled scenes with the highest predicted loss.
* ``dal``: Wei et al.; the unlabelled scenes whose "labelled" probability, from the
  discriminator on the shared encoder, is lowest.

scikit-activeml (and scikit-learn under it) is imported inside the functions that use it: importing
it takes about 2 s, and every graspbench command imports this module (active-learn's flags name the
strategies), most of them to select nothing.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.distance import cdist

from . import networks
from .training import train_vaal

STRATEGIES = ("random", "coreset", "graph-density", "gissin", "vaal", "learning-loss", "dal")
GRAPH_NEIGHBOURS = 10  # Google's graph_density default
GRAPH_IMAGE_PX = 16  # Graph Density compares depth images averaged down to 16 x 16 (256 features)
GISSIN_SUB_BATCHES = 20
GISSIN_HIDDEN = (256, 256, 256)
SCORE_BATCH = 32


def _skactiveml_labels(pool_size: int, labelled) -> np.ndarray:
    """scikit-activeml's y: NaN for unlabelled rows, a class (0) for labelled ones."""
    y = np.full(pool_size, np.nan)
    y[list(labelled)] = 0
    return y


def _check(pool_size: int, labelled, k: int) -> None:
    unlabelled = pool_size - len(set(labelled))
    if not 1 <= k <= unlabelled:
        raise ValueError(f"cannot select {k} scenes: {unlabelled} of the pool's {pool_size} are unlabelled")


def random_selection(pool_size: int, labelled, k: int, seed: int) -> list[int]:
    """k unlabelled indices uniformly at random (scikit-activeml's RandomSampling)."""
    from skactiveml.pool import RandomSampling  # lazily: see the module docstring

    _check(pool_size, labelled, k)
    X = np.arange(pool_size, dtype=float)[:, None]
    return [
        int(i)
        for i in RandomSampling(random_state=seed).query(X, _skactiveml_labels(pool_size, labelled), batch_size=k)
    ]


def k_center_greedy(features: np.ndarray, labelled, k: int, seed: int) -> list[int]:
    """Core-set's k-center greedy, euclidean (scikit-activeml's CoreSet): the first pick is the
    point farthest from the labelled ones, each next one the farthest from those and the picks."""
    from skactiveml.pool import CoreSet  # lazily: see the module docstring

    _check(len(features), labelled, k)
    query = CoreSet(random_state=seed).query(
        np.asarray(features, dtype=float), _skactiveml_labels(len(features), labelled), batch_size=k
    )
    return [int(i) for i in query]


def graph_density(features: np.ndarray, labelled, k: int, neighbours: int = GRAPH_NEIGHBOURS) -> list[int]:
    """Ebert et al.'s Graph Density, as Google's active-learning code computes it.

    A kNN graph (Manhattan distance, each node's ``neighbours`` nearest, made symmetric) with
    weights exp(-gamma d), gamma = 1 / n_features; a node's density is the sum of its edge weights
    over its number of edges. Repeatedly the unlabelled node of highest density is picked and its
    density subtracted from its neighbours', so that the next pick comes from elsewhere.
    """
    features = np.asarray(features, dtype=float)
    n = len(features)
    _check(n, labelled, k)
    distance = cdist(features, features, metric="cityblock")
    np.fill_diagonal(distance, np.inf)
    nearest = np.argsort(distance, axis=1, kind="stable")[:, : min(neighbours, n - 1)]
    weights = np.zeros((n, n))
    rows = np.repeat(np.arange(n), nearest.shape[1])
    weights[rows, nearest.ravel()] = np.exp(-distance[rows, nearest.ravel()] / features.shape[1])
    weights = np.maximum(weights, weights.T)
    edges = weights > 0
    density = weights.sum(axis=1) / np.maximum(edges.sum(axis=1), 1)
    taken = np.zeros(n, dtype=bool)
    taken[list(labelled)] = True
    picks: list[int] = []
    for _ in range(k):
        score = np.where(taken, -np.inf, density)
        best = int(np.argmax(score))
        density[edges[best]] -= density[best]
        taken[best] = True
        picks.append(best)
    return picks


def gissin_discriminative(
    features: np.ndarray, labelled, k: int, seed: int, sub_batches: int = GISSIN_SUB_BATCHES
) -> list[int]:
    """Gissin & Shalev-Shwartz's discriminative AL (scikit-activeml's DiscriminativeAL with an
    MLP discriminator): ``k`` picks in up to ``sub_batches`` sub-batches, each chosen by a fresh
    discriminator that treats the earlier sub-batches as labelled."""
    # lazily: see the module docstring
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.pool import DiscriminativeAL
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    features = np.asarray(features, dtype=float)
    _check(len(features), labelled, k)
    features = (features - features.mean(axis=0)) / (features.std(axis=0) + 1e-8)
    y = _skactiveml_labels(len(features), labelled)
    picks: list[int] = []
    for part, size in enumerate(np.diff(np.linspace(0, k, min(sub_batches, k) + 1).round().astype(int))):
        discriminator = SklearnClassifier(
            MLPClassifier(GISSIN_HIDDEN, random_state=seed + part), classes=[0, 1], random_state=seed + part
        )
        with warnings.catch_warnings():
            # Gissin stops training early (at 98% accuracy): a discriminator short of convergence is expected.
            warnings.simplefilter("ignore", ConvergenceWarning)
            query = DiscriminativeAL(greedy_selection=True, random_state=seed + part).query(
                features, y, discriminator=discriminator, batch_size=int(size)
            )
        picks += [int(i) for i in query]
        y[query] = 0
    return picks


def lowest(scores: np.ndarray, unlabelled, k: int) -> list[int]:
    """The k unlabelled indices of lowest score (DAL, VAAL: the least labelled-like), lowest first."""
    unlabelled = np.asarray(sorted(unlabelled))
    order = np.argsort(np.asarray(scores)[unlabelled], kind="stable")
    return [int(i) for i in unlabelled[order[:k]]]


def highest(scores: np.ndarray, unlabelled, k: int) -> list[int]:
    """The k unlabelled indices of highest score (Learning Loss: the largest predicted loss)."""
    return lowest(-np.asarray(scores), unlabelled, k)


def _scores(fn, pool_x: torch.Tensor, unlabelled: list[int]) -> np.ndarray:
    """fn's score of every unlabelled pool image, in batches; NaN for the labelled ones."""
    x = pool_x[unlabelled]
    scores = np.full(len(pool_x), np.nan)
    with torch.no_grad():
        scores[unlabelled] = torch.cat([fn(x[i : i + SCORE_BATCH]) for i in range(0, len(x), SCORE_BATCH)]).numpy()
    return scores


def select(
    strategy: str, trained, pool_x: torch.Tensor, labelled, k: int, seed: int, vaal_steps: int = 0, batch_size: int = 8
) -> tuple[list[int], dict]:
    """The ``k`` pool scenes ``strategy`` labels next, and what choosing them cost.

    Args:
        strategy: one of STRATEGIES.
        trained: the round's :class:`~graspbench.active.training.Trained` networks.
        pool_x: (N, C, H, W) whole-image inputs of the pool.
        labelled: pool indices labelled so far.
        k: how many to pick.
        seed: the randomness of the choice (random draws, tie breaks, VAAL's networks).
        vaal_steps, batch_size: VAAL's training length and batch size.

    Returns:
        (picked pool indices in the order chosen, {"select_s": seconds}).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    started = time.perf_counter()
    labelled = sorted(int(i) for i in labelled)
    unlabelled = sorted(set(range(len(pool_x))) - set(labelled))
    _check(len(pool_x), labelled, k)
    model = trained.model.eval()
    if strategy == "random":
        picks = random_selection(len(pool_x), labelled, k, seed)
    elif strategy == "coreset":
        picks = k_center_greedy(networks.features(model, pool_x).numpy(), labelled, k, seed)
    elif strategy == "graph-density":
        images = F.adaptive_avg_pool2d(pool_x[:, :1], GRAPH_IMAGE_PX).flatten(1).numpy()
        picks = graph_density(images, labelled, k)
    elif strategy == "gissin":
        picks = gissin_discriminative(networks.features(model, pool_x).numpy(), labelled, k, seed)
    elif strategy == "vaal":
        vae, adversary = train_vaal(pool_x, labelled, unlabelled, max(vaal_steps, 1), batch_size, seed)
        vae.eval()
        scores = _scores(lambda x: torch.sigmoid(adversary(vae(networks.vae_input(x))[1])), pool_x, unlabelled)
        picks = lowest(scores, unlabelled, k)
    elif strategy == "learning-loss":
        trained.loss_predictor.eval()
        scores = _scores(
            lambda x: trained.loss_predictor(networks.forward_with_blocks(model, x)[1]), pool_x, unlabelled
        )
        picks = highest(scores, unlabelled, k)
    else:  # dal
        trained.discriminator.eval()
        scores = _scores(
            lambda x: torch.sigmoid(trained.discriminator(networks.pooled(networks.encode(model, x)))),
            pool_x,
            unlabelled,
        )
        picks = lowest(scores, unlabelled, k)
    return picks, {"select_s": time.perf_counter() - started}
