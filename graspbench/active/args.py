"""The active-learning run's settings: the presets and :class:`ActiveArgs`, whose fields are also the
flags of ``graspbench active-learn`` (made by :func:`graspbench.options.add_options`: the
docstring under a field is its help, its ``metadata`` the flag's type or choices).

A preset gives the scale of a run (pool, test set, rounds, epochs); a field a preset sets has a
flag that defaults to None, so that :meth:`ActiveArgs.from_preset` can tell a flag left out (the
preset's value) from one given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..options import check_options, flag_name, non_negative_int, positive_int
from .networks import SUPPORTED_MODELS
from .strategies import STRATEGIES
from .training import INPUT_CHANNELS

PRESETS: dict[str, dict] = {
    # The paper's Cornell setting: 885 images, 80% pool (708) / 20% test (177), 60 initial + 60 per
    # round, 10 rounds. Cornell holds one object per image: so does Single-v0.
    "cornell": {
        "env": "GraspBench/Single-v0",
        "pool_scenes": 708,
        "test_scenes": 177,
        "sim_test_scenes": 60,
        "initial": 60,
        "per_round": 60,
        "rounds": 10,
        "epochs": 15,
    },
    # The paper's Jacquard subset: 1200 pool images, 300 test, a large initial pool (one image per
    # object: 300), 100 per round.
    "jacquard": {
        "env": "GraspBench/Single-v0",
        "pool_scenes": 1200,
        "test_scenes": 300,
        "sim_test_scenes": 60,
        "initial": 300,
        "per_round": 100,
        "rounds": 8,
        "epochs": 10,
    },
    # Every strategy, one trial, well under 20 minutes on 2 cores: the loop end to end, not a finding.
    "quick": {
        "env": "GraspBench/Single-v0",
        "pool_scenes": 96,
        "test_scenes": 24,
        "sim_test_scenes": 12,
        "initial": 16,
        "per_round": 16,
        "rounds": 3,
        "epochs": 6,
    },
    # For the tests: seconds.
    "tiny": {
        "env": "GraspBench/Single-v0",
        "pool_scenes": 8,
        "test_scenes": 2,
        "sim_test_scenes": 1,
        "initial": 2,
        "per_round": 2,
        "rounds": 2,
        "epochs": 1,
        "crop_px": 48,
        "candidates_per_object": 2,
    },
}

# The fields some preset sets: their flags default to the preset's value.
PRESET_FIELDS = tuple(sorted(set().union(*PRESETS.values())))

# Settings that do not change results: a run may be resumed or extended with other values.
ACTIVE_FREE = ("strategy", "trials", "out", "data_dir", "workers", "threads", "progress")


@dataclass
class ActiveArgs:
    strategy: str = "dal"
    """strategies to run, comma-separated (random, coreset, graph-density, gissin, vaal, learning-loss, dal), or all"""
    preset: str = field(default="quick", metadata={"choices": tuple(PRESETS)})
    """the defaults of the flags marked "the preset's": cornell (708 pool scenes, 60 + 60 x 10 labels),
    jacquard (1200, 300 + 100 x 8), quick (96, 16 + 16 x 3: under 20 minutes on 2 cores) or tiny
    (8, 2 + 2 x 2, 48-pixel windows: the tests')"""
    trials: int = field(default=1, metadata={"type": positive_int})
    """trials per strategy: trial t draws its initial pool and initialisations from (seed, t), the
    same for every strategy"""
    out: str = "runs/active"
    """results folder; an existing one is resumed (other strategies and more trials may be added)"""
    data_dir: str | None = None
    """pool, annotations and test set; left out (None): ~/.cache/graspbench/active/PRESET, shared by the
    runs of a preset"""
    env: str = "GraspBench/Single-v0"
    """environment id or spec file: the pool uses its train objects, the test set its test objects"""
    pool_scenes: int = field(default=96, metadata={"type": positive_int})
    """scenes rendered into the unlabelled pool"""
    test_scenes: int = field(default=24, metadata={"type": positive_int})
    """labelled scenes of test objects; Top-1 rectangle accuracy is measured on all of them"""
    sim_test_scenes: int = field(default=12, metadata={"type": non_negative_int})
    """test scenes on which the top-1 grasp is executed in the simulator each round (~0.3 s each); 0: none"""
    initial: int = field(default=16, metadata={"type": positive_int})
    """scenes in the initial labelled pool, drawn at random"""
    per_round: int = field(default=16, metadata={"type": positive_int})
    """k: scenes selected and labelled per round"""
    rounds: int = field(default=3, metadata={"type": non_negative_int})
    """selection rounds after the initial pool"""
    model: str = field(default="ggcnn", metadata={"choices": SUPPORTED_MODELS})
    """the backbone: ggcnn (the paper's) or ggcnn2, whose encoders active learning knows how to split"""
    input: str = field(default="depth", metadata={"choices": tuple(INPUT_CHANNELS)})
    """the network's input: depth, rgb or rgbd"""
    epochs: int = field(default=6, metadata={"type": positive_int})
    """passes over the labelled scenes each round (GG-CNN is retrained from scratch every round)"""
    min_steps: int = field(default=0, metadata={"type": non_negative_int})
    """at least this many optimiser steps per round (epochs are raised for small labelled pools); 0: epochs decide"""
    batch_size: int = field(default=8, metadata={"type": positive_int})
    """labelled windows per step (DAL adds as many whole labelled and unlabelled images)"""
    lr: float = 1e-3
    """Adam learning rate of GG-CNN"""
    crop_px: int | None = field(default=112, metadata={"type": non_negative_int})
    """GG-CNN's loss on windows of this size around labels (as graspbench train); None (0 on the
    command line): whole images"""
    alpha: float = 0.1
    """DAL: L = L_grasp + alpha * L_BCE (the paper: 0.1; 0 to 0.5 works)"""
    discriminator_lr: float = 1e-2
    """DAL: SGD learning rate of the discriminator (momentum 0.9)"""
    label_noise_deg: float = 0.0
    """the noisy annotator: every training label's angle moved by uniform(-x, x) degrees (the paper's Fig. 8: 45)"""
    candidates_per_object: int = field(default=8, metadata={"type": positive_int})
    """the labeller's antipodal candidates executed per object"""
    seed: int = 0
    """seeds initial pools, initialisations, batch orders and selections"""
    pool_seed: int = 300_000
    """pool scene i is the scene of seed pool_seed + i (validation sets start at 100000, benchmark episodes at 0)"""
    test_seed: int = 200_000
    """test scene i is the scene of seed test_seed + i, on test objects"""
    workers: int = field(default=1, metadata={"type": positive_int})
    """processes: trials and strategies run side by side (rendering, labelling and --reevaluate too)"""
    threads: int = field(default=1, metadata={"type": positive_int})
    """torch threads per process"""
    progress: bool = field(default=True, metadata={"flag": "--quiet"})
    """progress bars and a line per round"""

    @classmethod
    def from_preset(cls, preset: str = "quick", **overrides) -> ActiveArgs:
        """The preset's settings, with every override that is not None."""
        if preset not in PRESETS:
            raise ValueError(f"--preset {preset!r} is not a preset; choose one of {', '.join(PRESETS)}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ValueError(f"ActiveArgs has no field(s) {unknown}")
        values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
        return cls(preset=preset, **values)

    @property
    def strategies(self) -> list[str]:
        names = (
            list(STRATEGIES)
            if self.strategy.strip() == "all"
            else [s.strip() for s in self.strategy.split(",") if s.strip()]
        )
        unknown = [s for s in names if s not in STRATEGIES]
        if unknown or not names:
            raise ValueError(
                f"--strategy {self.strategy!r}: {', '.join(unknown) or 'none given'} is not a strategy; "
                f"choose from {', '.join(STRATEGIES)} (comma-separated) or all"
            )
        return names

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir) if self.data_dir else Path.home() / ".cache" / "graspbench" / "active" / self.preset

    def check(self) -> None:
        """Raise ValueError, naming the flag, for settings the loop cannot run with."""
        self.strategies  # noqa: B018  (validates)
        check_options(self)
        if self.initial + self.rounds * self.per_round > self.pool_scenes:
            raise ValueError(
                f"--initial {self.initial} + --rounds {self.rounds} x --per-round {self.per_round} labels "
                f"do not fit a pool of --pool-scenes {self.pool_scenes}: raise --pool-scenes or lower "
                f"the others"
            )
        if self.sim_test_scenes > self.test_scenes:
            raise ValueError(f"--sim-test-scenes {self.sim_test_scenes} exceeds --test-scenes {self.test_scenes}")
        if self.crop_px is not None and self.crop_px < 24:
            raise ValueError(f"--crop-px must be at least 24 pixels (GG-CNN's encoder strides 12), got {self.crop_px}")
        if not 0 <= self.alpha <= 10:
            raise ValueError(f"--alpha must be in [0, 10] (the paper: 0.1), got {self.alpha}")
        if not 0 <= self.label_noise_deg <= 90:
            raise ValueError(
                f"--label-noise-deg must be in [0, 90] degrees (the paper: 45), got {self.label_noise_deg}"
            )
        for name in ("lr", "discriminator_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{flag_name(name)} must be positive, got {getattr(self, name)}")
