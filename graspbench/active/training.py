"""One round's training and its evaluation.

Every strategy retrains its GG-CNN from scratch each round, from an initialisation that depends
only on (seed, trial, round), so that the strategies of a trial differ only in the data they chose.
GG-CNN's loss (ImgMSE) is computed on training windows around labels (``crop_px``, as
``graspbench train`` does: 4 times cheaper than whole images); everything that judges an image
(DAL's discriminator, Learning Loss's predictor at selection, the features of Core-set and
Gissin's discriminator, VAAL) sees whole images, labelled and unlabelled alike, so that no
selection can tell a labelled image by its size.

* ``plain``: GG-CNN alone (random, Core-set, Graph Density, Gissin, VAAL).
* ``dal``: DAL's joint loss L = L_grasp + alpha * L_BCE; the discriminator reads the pooled
  output of GG-CNN's own encoder for a batch of whole labelled images (target 1) and as many
  unlabelled ones (target 0). Adam for GG-CNN (the encoder receives both gradients), SGD for the
  discriminator, as the paper says.
* ``learning-loss``: GG-CNN with the loss-prediction module on every ReLU block; loss = mean
  per-image ImgMSE + weight * margin ranking loss; the module's inputs are detached from the
  backbone after ``LEARNING_LOSS_DETACH`` of the epochs (Yoo & Kweon).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from .. import __version__
from ..planners.dataset import GraspDataset, collate
from ..planners.losses import MAP_KEYS
from ..planners.models import build_model
from ..planners.offline import rectangle_scores, simulated_top1
from ..planners.postprocess import PostProcess
from ..versions import experiment_version
from . import networks

INPUT_CHANNELS = {"depth": 1, "rgb": 3, "rgbd": 4}
DISCRIMINATOR_MOMENTUM = 0.9  # SGD for DAL's discriminator; the paper gives no settings
LEARNING_LOSS_WEIGHT = 1.0  # lambda of the ranking loss (Yoo & Kweon)
LEARNING_LOSS_MARGIN = 1.0
LEARNING_LOSS_DETACH = 0.6  # share of the epochs after which the predictor's inputs are detached
VAAL_LR = 5e-4
VAAL_BETA = 1.0  # weight of the KL term
VAAL_ADVERSARY_WEIGHT = 1.0
VAAL_VAE_STEPS = 2  # VAE updates per step, then one adversary update (sinhasam/vaal)
VAAL_ADVERSARY_STEPS = 1
EVAL_BATCH = 8
_NOISE_STREAM = 7  # GraspDataset uses streams 0-2 of default_rng([seed, scene, stream])


class NoisyAngles(GraspDataset):
    """A GraspDataset whose annotator is careless: every kept label's angle is moved by a uniform
    draw in +-``angle_noise_deg`` (the DAL paper's noisy Cornell, Fig. 8). The draw depends on
    (seed, scene) only, so a label keeps its error in every epoch and round, as an annotation would."""

    def __init__(self, root, *, angle_noise_deg: float, **kwargs):
        super().__init__(root, **kwargs)
        self.angle_noise_rad = np.radians(angle_noise_deg)

    def _kept_labels(self, arrays, scene):
        labels = super()._kept_labels(arrays, scene)
        rng = np.random.default_rng([self.seed, scene, _NOISE_STREAM])
        angle = labels.angle + rng.uniform(-self.angle_noise_rad, self.angle_noise_rad, size=len(labels.angle))
        return labels._replace(angle=(angle + np.pi / 2) % np.pi - np.pi / 2)


def labelled_dataset(root, scenes, args, train: bool = True) -> GraspDataset:
    """The labelled pool scenes as GG-CNN training data (no augmentation: the paper uses none)."""
    options = {
        "input": args.input,
        "scenes": sorted(scenes),
        "seed": args.seed,
        "positives": "collision_free",
        "crop_px": args.crop_px if train else None,
    }
    if train and args.label_noise_deg > 0:
        return NoisyAngles(root, angle_noise_deg=args.label_noise_deg, **options)
    return GraspDataset(root, **options)


def per_image_imgmse(maps, batch) -> torch.Tensor:
    """(B,) ImgMSE of each image; its mean over the batch is graspbench.planners.losses.imgmse's total."""
    return sum((getattr(maps, key) - batch[key]).square().mean(dim=(1, 2, 3)) for key in MAP_KEYS)


@dataclass
class Trained:
    """What a round's training produced: the GG-CNN and the strategy's own networks."""

    model: torch.nn.Module
    discriminator: torch.nn.Module | None = None
    loss_predictor: torch.nn.Module | None = None
    history: list = dataclasses.field(default_factory=list)
    """per epoch: mean loss terms"""


def round_epochs(labelled_scenes: int, args) -> int:
    """``args.epochs``, raised until the round takes at least ``args.min_steps`` optimiser steps:
    a small labelled pool would otherwise get too few updates to learn anything."""
    steps_per_epoch = -(-labelled_scenes // args.batch_size)
    return max(args.epochs, -(-args.min_steps // steps_per_epoch))


def training_kind(strategy: str) -> str:
    return strategy if strategy in ("dal", "learning-loss") else "plain"


def dal_loss(model, discriminator, batch, labelled_x, unlabelled_x, alpha: float) -> dict:
    """DAL's joint loss terms: ``grasp`` (ImgMSE on the labelled windows) and ``bce`` (the
    discriminator on the shared encoder's features of whole labelled and unlabelled images),
    and their weighted sum ``total`` = grasp + alpha * bce."""
    grasp = per_image_imgmse(model(batch["x"]), batch).mean()
    logits = discriminator(networks.pooled(networks.encode(model, torch.cat([labelled_x, unlabelled_x]))))
    targets = torch.cat([torch.ones(len(labelled_x)), torch.zeros(len(unlabelled_x))])
    bce = F.binary_cross_entropy_with_logits(logits, targets)
    return {"grasp": grasp, "bce": bce, "total": grasp + alpha * bce}


def train_round(
    strategy: str,
    dataset: GraspDataset,
    pool_x: torch.Tensor,
    labelled,
    unlabelled,
    args,
    seed: int,
    progress: bool = False,
) -> Trained:
    """Train a fresh GG-CNN (and the strategy's own networks) on the labelled scenes.

    Args:
        strategy: a strategy name; it decides the kind of training (module docstring).
        dataset: the labelled scenes (:func:`labelled_dataset`).
        pool_x: (N, C, H, W) whole-image inputs of the pool, indexed by pool scene.
        labelled, unlabelled: pool scene indices.
        args: the loop's ActiveArgs (model, epochs, batch_size, lr, alpha, discriminator_lr).
        seed: initialisation, batch order and the unlabelled batches.
    """
    kind = training_kind(strategy)
    torch.manual_seed(seed)
    model = build_model(args.model, INPUT_CHANNELS[args.input])  # first, so its start is the same for every strategy
    trained = Trained(model)
    optimisers = [torch.optim.Adam(model.parameters(), lr=args.lr)]
    if kind == "dal":
        trained.discriminator = networks.Discriminator(networks.feature_size(model, INPUT_CHANNELS[args.input]))
        optimisers.append(
            torch.optim.SGD(
                trained.discriminator.parameters(), lr=args.discriminator_lr, momentum=DISCRIMINATOR_MOMENTUM
            )
        )
    elif kind == "learning-loss":
        trained.loss_predictor = networks.LossPredictor(networks.block_channels(model, INPUT_CHANNELS[args.input]))
        # Yoo & Kweon train the module with the backbone's optimiser.
        optimisers.append(torch.optim.Adam(trained.loss_predictor.parameters(), lr=args.lr))
    rng = np.random.default_rng(seed)
    labelled, unlabelled = np.asarray(sorted(labelled)), np.asarray(sorted(unlabelled))
    epochs = round_epochs(len(dataset), args)
    detach_epoch = int(LEARNING_LOSS_DETACH * epochs)
    for epoch in range(epochs):
        order = torch.Generator().manual_seed(seed + epoch)
        loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, generator=order, collate_fn=collate)
        for module in (model, trained.discriminator, trained.loss_predictor):
            if module is not None:
                module.train()
        sums: dict[str, float] = {}
        batches = 0
        for batch in tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False):
            if kind == "dal" and len(unlabelled):
                size = len(batch["x"])
                terms = dal_loss(
                    model,
                    trained.discriminator,
                    batch,
                    pool_x[rng.choice(labelled, size)],
                    pool_x[rng.choice(unlabelled, size)],
                    args.alpha,
                )
            elif kind == "learning-loss":
                maps, blocks = networks.forward_with_blocks(model, batch["x"])
                per_image = per_image_imgmse(maps, batch)
                if epoch >= detach_epoch:
                    blocks = [block.detach() for block in blocks]
                ranking = networks.ranking_loss(trained.loss_predictor(blocks), per_image, LEARNING_LOSS_MARGIN)
                terms = {
                    "grasp": per_image.mean(),
                    "ranking": ranking,
                    "total": per_image.mean() + LEARNING_LOSS_WEIGHT * ranking,
                }
            else:
                grasp = per_image_imgmse(model(batch["x"]), batch).mean()
                terms = {"grasp": grasp, "total": grasp}
            for optimiser in optimisers:
                optimiser.zero_grad()
            terms["total"].backward()
            for optimiser in optimisers:
                optimiser.step()
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + value.item()
            batches += 1
        trained.history.append({name: value / max(batches, 1) for name, value in sums.items()})
    return trained


def train_vaal(pool_x: torch.Tensor, labelled, unlabelled, steps: int, batch_size: int, seed: int):
    """VAAL's VAE and adversary, fresh each round, ``steps`` steps (as many as the task model took).

    Per step, on one labelled and one unlabelled batch: VAAL_VAE_STEPS updates of the VAE
    (reconstruction + beta * KL on both, plus the adversarial term that makes the adversary call
    both labelled), then VAAL_ADVERSARY_STEPS updates of the adversary (labelled 1, unlabelled 0).
    """
    torch.manual_seed(seed)
    vae, adversary = networks.VAE(), networks.Adversary()
    vae_optimiser = torch.optim.Adam(vae.parameters(), lr=VAAL_LR)
    adversary_optimiser = torch.optim.Adam(adversary.parameters(), lr=VAAL_LR)
    rng = np.random.default_rng(seed)
    labelled, unlabelled = np.asarray(sorted(labelled)), np.asarray(sorted(unlabelled))

    def vae_terms(x):
        reconstruction, mu, logvar = vae(x)
        kl = -0.5 * torch.mean(1 + logvar - mu.square() - logvar.exp())
        return F.mse_loss(reconstruction, x) + VAAL_BETA * kl, mu

    vae.train()
    adversary.train()
    for _ in range(steps):
        x_l = networks.vae_input(pool_x[rng.choice(labelled, batch_size)])
        x_u = networks.vae_input(pool_x[rng.choice(unlabelled, batch_size)])
        for _ in range(VAAL_VAE_STEPS):
            loss_l, mu_l = vae_terms(x_l)
            loss_u, mu_u = vae_terms(x_u)
            logits = adversary(torch.cat([mu_l, mu_u]))
            fool = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
            vae_optimiser.zero_grad()
            (loss_l + loss_u + VAAL_ADVERSARY_WEIGHT * fool).backward()
            vae_optimiser.step()
        for _ in range(VAAL_ADVERSARY_STEPS):
            with torch.no_grad():
                _, mu_l, _ = vae(x_l)
                _, mu_u, _ = vae(x_u)
            logits = adversary(torch.cat([mu_l, mu_u]))
            targets = torch.cat([torch.ones(len(mu_l)), torch.zeros(len(mu_u))])
            adversary_optimiser.zero_grad()
            F.binary_cross_entropy_with_logits(logits, targets).backward()
            adversary_optimiser.step()
    return vae, adversary


def evaluate(model, test: GraspDataset, sim_scenes: int, progress: bool = False) -> dict:
    """Top-1/Top-5 rectangle accuracy on every test image, the top-1 grasp executed in the
    simulator on the first ``sim_scenes`` test scenes (graspbench.planners.offline) twice: the
    network's own best peak (``net_top1_success``: what learning changes) and the grasp the
    planner takes, the best peak whose fingers land on free space (``sim_top1_success``: what the
    agent does; the free-space check hides much of a weak network's error), and the code that
    measured them."""
    started = time.perf_counter()
    settings = PostProcess()
    scores = rectangle_scores(model, DataLoader(test, batch_size=EVAL_BATCH, collate_fn=collate), settings)
    row = {"test_top1": scores["top1"], "test_top5": scores["top5"], "test_images": scores["images"]}
    if sim_scenes:
        network = simulated_top1(model, test, settings, progress=progress, scenes=sim_scenes, check_clearance=False)
        planner = simulated_top1(model, test, settings, progress=progress, scenes=sim_scenes)
        row.update(
            net_top1_success=network["sim_top1_success"],
            sim_top1_success=planner["sim_top1_success"],
            sim_trials=planner["sim_trials"],
        )
    row["eval_s"] = time.perf_counter() - started
    row["evaluated_with"] = experiment_version("active")
    return row


def save_model(path, model, args, extra: dict) -> None:
    """The round's GG-CNN as a checkpoint that ``load_checkpoint``, ``evaluate-offline`` and
    network agents read (atomically)."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(
        {
            "state_dict": model.state_dict(),
            "model_config": model.config,
            "loss": "imgmse",
            "input": args.input,
            "postprocess": dataclasses.asdict(PostProcess()),
            "args": {"positives": "collision_free"},
            "graspbench_version": __version__,
            **extra,
        },
        tmp,
    )
    os.replace(tmp, path)
