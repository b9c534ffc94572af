"""The grasp policy pi_theta of IVFP (Murray et al., section IV.A): what it sees (preprocessing),
the network and its checkpoints. Imitation trains it (:mod:`.imitation`), REINFORCE improves it
(:mod:`.reinforce`).

**What it decides.** A pick in BinPick is a pre-grasp width (one of the spec's ``pick.widths_m``)
and a point (u, v) on the target; the yaw is fixed. The policy factors as the paper's two
modules: Q_width scores the widths, and Q_grasp, conditioned on the chosen width, scores every
pixel. Read as logits, they give the stochastic policy REINFORCE needs::

    pi(w, p | s) = softmax_w(Q_width)[w] * softmax_{p in target}(Q_grasp(. | w))[p]

Pixels outside the target mask are invalid actions: their logit is -inf before the softmax, so
they have probability 0 and the policy gradient never pushes mass onto them.

**Input.** The overhead RGB image, the target mask and depth, as heights relative to the target's
visible surface (its median depth minus each pixel's depth, in units of 5 cm). The paper feeds
RGB and the mask to a pretrained ViT; we add depth because what makes a pick fail here is mostly
geometry: most of the demonstrator's failures are collisions (the fingers land on a neighbour or
the bin's wall), and whether a finger has room beside the target is one subtraction away in a
height map and a long inference in colour. Heights relative to the target make the input the same
whether the target lies on the floor or on a pile. ``input="rgb"`` keeps the paper's input.

**Resolution.** The whole image, averaged over ``downsample`` x ``downsample`` blocks (224 px ->
112 px by default): a crop around the target would not be smaller, because the targets measure up
to 150 px and an 8 cm width spans ~100 px. A policy pixel ("cell") is a block of image pixels; it
is a valid action when the whole block lies in the target (when no block does, as for a thin
target, every block touching it). A chosen cell maps back to the centre of its block, or for a
partly covered block to its target pixel nearest the centre, so the executed point is always on
the target.

**Network.** Trained from scratch (no downloads). A small CNN backbone (GroupNorm, which behaves
the same in training and evaluation, so REINFORCE's importance weights see the policy that
acted) gives feature maps at 1/2, 1/4 and 1/8 of the policy's resolution. Q_width pools the
1/8 map twice, over the whole image (the paper's global average) and over the target's cells
(the target covers ~4% of the image, and its size and surroundings are what the width depends
on), then one linear layer. Q_grasp is an FPN decoder in the UperNet manner: lateral 1x1
convolutions, top-down sums, 3x3 smoothing, every level upsampled to 1/2 and fused by a 1x1
convolution; a learned embedding of the width is broadcast over the fused map and concatenated
to it, and a 3x3 then a 1x1 convolution give one logit per cell at 1/2, upsampled bilinearly to
the policy's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..agents.protocol import camera_from_info
from ..clearance import clear_for_widths
from ..io import read_checkpoint_dict, reading

INPUTS = ("rgbd", "rgb")
"""What the policy sees besides the target mask: RGB and relative heights, or RGB only (the paper)."""
HEIGHT_SCALE_M = 0.05
"""Relative heights are divided by this, so that a neighbour one object taller reads about 1."""
HEIGHT_CLIP_M = 0.2
"""Relative heights are clipped to +-this: beyond it, a finger has no room either way."""
NETWORK_STRIDE = 8
"""The backbone halves the resolution three times; inputs are padded to a multiple of this."""
GROUPS = 8
"""GroupNorm groups; every layer's channels are a multiple of this."""
CHECKPOINT_KIND = "ivfp-policy"
CHECKPOINT_FIX = "train one with `graspbench ivfp train-policy` (or `graspbench ivfp reinforce`)"


# --- what the policy sees --------------------------------------------------------------------


def prepare(
    rgb: np.ndarray, depth_m: np.ndarray, target_mask: np.ndarray, downsample: int, clear: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """An observation at the policy's resolution, compact (uint8 / float16), as stored for
    training and replay:

    ``rgb`` uint8 (3, h, w) block means; ``height`` float16 (h, w) metres above the target's
    median visible surface; ``mask`` uint8 (h, w) share of each block on the target x 255;
    ``valid`` bool (h, w) the cells that are actions (see the module's docstring); with ``clear``
    (widths, H, W), the image pixels where a grasp of each width comes down on free space, also
    ``clear`` bool (widths, h, w): the cells whose every pixel is clear (see :func:`action_masks`).
    """
    rgb, depth_m, target_mask = np.asarray(rgb), np.asarray(depth_m, np.float32), np.asarray(target_mask).astype(bool)
    H, W = depth_m.shape
    if rgb.shape != (H, W, 3) or target_mask.shape != (H, W):
        raise ValueError(
            f"observation: rgb {rgb.shape}, depth {depth_m.shape} and target_mask {target_mask.shape} "
            "must share one (H, W)"
        )
    if H % downsample or W % downsample:
        raise ValueError(
            f"downsample {downsample} does not divide the image ({W} x {H} px); choose a divisor "
            "(policy.downsample / --downsample)"
        )
    if not target_mask.any():
        raise ValueError("target_mask is empty: the policy has no valid action (is the target visible?)")
    f, h, w = downsample, H // downsample, W // downsample
    surface_m = float(np.median(depth_m[target_mask]))
    heights = np.clip(
        np.nan_to_num(surface_m - depth_m, nan=0.0, posinf=0.0, neginf=0.0), -HEIGHT_CLIP_M, HEIGHT_CLIP_M
    )
    share = target_mask.reshape(h, f, w, f).mean(axis=(1, 3))
    valid = share >= 1.0
    if not valid.any():  # a target thinner than a block: any block touching it
        valid = share > 0
    compact = {
        "rgb": np.round(rgb.reshape(h, f, w, f, 3).mean(axis=(1, 3))).astype(np.uint8).transpose(2, 0, 1).copy(),
        "height": heights.reshape(h, f, w, f).mean(axis=(1, 3)).astype(np.float16),
        "mask": np.round(255 * share).astype(np.uint8),
        "valid": valid,
    }
    if clear is not None:
        compact["clear"] = np.asarray(clear, bool).reshape(len(clear), h, f, w, f).all(axis=(2, 4))
    return compact


def to_tensors(batch: dict[str, np.ndarray | torch.Tensor], input: str = "rgbd") -> tuple[torch.Tensor, torch.Tensor]:
    """Network input x float (B, C, h, w) and valid bool (B, h, w) from compact arrays with a
    leading batch axis (as :func:`prepare` makes them, stacked)."""
    rgb = torch.as_tensor(batch["rgb"]).float() / 255.0 - 0.5
    mask = torch.as_tensor(batch["mask"]).float()[:, None] / 255.0
    channels = [rgb, mask]
    if input == "rgbd":
        channels.append(torch.as_tensor(batch["height"]).float()[:, None] / HEIGHT_SCALE_M)
    return torch.cat(channels, dim=1), torch.as_tensor(batch["valid"]).bool()


def action_masks(valid: torch.Tensor, clear: torch.Tensor | None, widths: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The actions of each state: (widths allowed (B, widths), cells allowed at each width
    (B, widths, h, w)), from ``valid`` (B, h, w) and, for a policy acting on free space,
    ``clear`` (B, widths, h, w).

    Without ``clear`` every width is allowed, at the valid cells. With it, a state where some
    valid cell is clear at some width allows only those: the widths with a clear cell, at their
    clear cells; a state with none (about half of BinPick's targets at a fixed yaw) falls back to
    every valid action, since refusing to grasp is not an action."""
    cells = valid[:, None].expand(-1, widths, -1, -1)
    if clear is None:
        return torch.ones(len(valid), widths, dtype=torch.bool), cells
    clear_cells = cells & clear
    clear_widths = clear_cells.flatten(2).any(dim=2)
    some = clear_widths.any(dim=1)
    return clear_widths | ~some[:, None], torch.where(some[:, None, None, None], clear_cells, cells)


def stack(items: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.stack([item[key] for item in items]) for key in items[0]}


def cell_to_pixel(cell: int, target_mask: np.ndarray, downsample: int) -> tuple[float, float]:
    """Image (u, v) of a policy cell (flat index, row-major): its block's centre when the whole
    block is on the target, else the block's target pixel nearest the centre."""
    f = downsample
    w = target_mask.shape[1] // f
    row, col = divmod(int(cell), w)
    block = np.asarray(target_mask[row * f : (row + 1) * f, col * f : (col + 1) * f], bool)
    centre = (f - 1) / 2
    if block.all() or not block.any():
        return col * f + centre, row * f + centre
    rows, cols = np.nonzero(block)
    nearest = int(np.argmin((rows - centre) ** 2 + (cols - centre) ** 2))
    return float(col * f + cols[nearest]), float(row * f + rows[nearest])


def cell_centres_px(shape: tuple[int, int], downsample: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Image u (w,) and v (h,) of the centres of the cells of a (h, w) policy grid."""
    h, w = shape
    centre = (downsample - 1) / 2
    return (
        torch.arange(w, dtype=torch.float32) * downsample + centre,
        torch.arange(h, dtype=torch.float32) * downsample + centre,
    )


# --- distributions over actions --------------------------------------------------------------


def masked_log_softmax(logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """log pi over the cells of each map: logits (B, h, w), valid (B, h, w) -> (B, h*w), -inf on
    invalid cells. Every map must have a valid cell."""
    return torch.log_softmax(logits.masked_fill(~valid, float("-inf")).flatten(1), dim=1)


def action_log_prob(
    width_logits: torch.Tensor, pixel_log_probs: torch.Tensor, width_index: torch.Tensor, cell: torch.Tensor
) -> torch.Tensor:
    """log pi(a | s) = log softmax(Q_width)[w] + log pi(cell | s, w), per row (B,).

    ``pixel_log_probs`` (B, h*w) must come from the map conditioned on each row's width."""
    width_log_probs = torch.log_softmax(width_logits, dim=1)
    rows = torch.arange(len(width_index))
    return width_log_probs[rows, width_index] + pixel_log_probs[rows, cell]


def block_log_probs(pixel_log_probs: torch.Tensor, shape: tuple[int, int], grid: int) -> torch.Tensor:
    """log pi of each ``grid`` x ``grid`` block of cells, (B, blocks) in row-major block order, from
    the cells' log-probabilities (B, h*w): the log of the sum of its cells' probabilities, -inf for
    a block without a valid cell. A coarser action grid for REINFORCE: fewer, larger actions.
    ``grid`` 1 returns the cells' own."""
    if grid == 1:
        return pixel_log_probs
    rows, h, w = pixel_log_probs.shape[0], *shape
    padded_h, padded_w = -(-h // grid) * grid, -(-w // grid) * grid
    x = F.pad(pixel_log_probs.view(rows, h, w), (0, padded_w - w, 0, padded_h - h), value=float("-inf"))
    x = x.view(rows, padded_h // grid, grid, padded_w // grid, grid).permute(0, 1, 3, 2, 4).flatten(3).flatten(1, 2)
    valid = torch.isfinite(x).any(dim=2)
    # Finite stand-ins for -inf: logsumexp's gradient at an all -inf block would be NaN.
    return torch.logsumexp(x.masked_fill(~torch.isfinite(x), -1e30), dim=2).masked_fill(~valid, float("-inf"))


def block_of(cell: np.ndarray | torch.Tensor, width: int, grid: int):
    """The block (as :func:`block_log_probs` orders them) of flat cell indices on a grid ``width`` cells wide."""
    row, column = cell // width, cell % width
    return (row // grid) * -(-width // grid) + column // grid


def entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """Entropy of each row of log-probabilities (B, n), -inf entries (impossible actions) allowed."""
    finite = torch.isfinite(log_probs)
    safe = log_probs.masked_fill(~finite, 0.0)
    return -(safe.exp() * safe).sum(dim=1)


# --- the network -----------------------------------------------------------------------------


def _conv(channels_in: int, channels_out: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, kernel, stride, kernel // 2, bias=False),
        nn.GroupNorm(GROUPS, channels_out),
        nn.ReLU(inplace=True),
    )


@dataclass
class PolicyAction:
    """One action of the policy, in its own cells and in image pixels."""

    width_index: int
    """index into the policy's ``widths_m``"""
    cell: int
    """flat (row-major) index of the chosen cell of the policy grid"""
    u: float
    """image column of the grasp point"""
    v: float
    """image row of the grasp point"""
    log_prob: float
    """log pi(a | s) under the distribution the action was drawn from (mu, for off-policy updates)"""


class GraspPolicy(nn.Module):
    """Q_width and Q_grasp over a shared CNN (see the module's docstring).

    Args:
        widths_m: the pre-grasp widths, in the environment's order (its ``pick.widths_m``).
        downsample: image pixels per policy cell along each axis.
        input: ``rgbd`` (RGB, mask, relative heights) or ``rgb`` (RGB and mask).
        base_channels: channels of the first layer; the levels have 2x, 4x, 8x as many.
        fpn_channels: channels of the decoder.
        width_embedding: size of the width's embedding concatenated to the decoder's features.
        free_space: act only where the fingers and palm come down on free space in the depth image
            (:func:`action_masks`; graspbench's addition, not the paper's). It changes the actions,
            not the network: a policy trained without it can act with it, and a checkpoint keeps it.
    """

    def __init__(
        self,
        widths_m,
        downsample: int = 2,
        input: str = "rgbd",
        base_channels: int = 16,
        fpn_channels: int = 32,
        width_embedding: int = 8,
        free_space: bool = False,
    ):
        super().__init__()
        if input not in INPUTS:
            raise ValueError(f"input {input!r} is not one of {INPUTS}")
        if base_channels % GROUPS or fpn_channels % GROUPS or base_channels < GROUPS:
            raise ValueError(
                f"base_channels and fpn_channels must be positive multiples of {GROUPS}, "
                f"got {base_channels} and {fpn_channels}"
            )
        if downsample < 1:
            raise ValueError(f"downsample must be at least 1, got {downsample}")
        self.widths_m = tuple(float(w) for w in widths_m)
        self.downsample, self.input = int(downsample), input
        self.config = {
            "widths_m": list(self.widths_m),
            "downsample": self.downsample,
            "input": input,
            "base_channels": base_channels,
            "fpn_channels": fpn_channels,
            "width_embedding": width_embedding,
            "free_space": bool(free_space),
        }
        c, d = base_channels, fpn_channels
        self.stem = _conv(3 + 1 + (input == "rgbd"), c)
        levels = (2 * c, 4 * c, 8 * c)
        self.levels = nn.ModuleList(
            [nn.Sequential(_conv(a, b, stride=2), _conv(b, b)) for a, b in zip((c,) + levels[:-1], levels)]
        )
        self.lateral = nn.ModuleList([nn.Conv2d(channels, d, 1) for channels in levels])
        self.smooth = nn.ModuleList([_conv(d, d) for _ in levels])
        self.fuse = _conv(len(levels) * d, d, kernel=1)
        self.width_head = nn.Linear(2 * levels[-1], len(self.widths_m))
        self.width_embedding = nn.Embedding(len(self.widths_m), width_embedding)
        self.grasp_head = nn.Sequential(_conv(d + width_embedding, d), nn.Conv2d(d, 1, 1))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(fused decoder features at 1/2 resolution (B, D, h', w'), Q_width logits (B, widths),
        the pooled state features Q_width reads (B, ``state_features``))."""
        h, w = x.shape[-2:]
        x = F.pad(x, (0, -w % NETWORK_STRIDE, 0, -h % NETWORK_STRIDE))
        features, y = [], self.stem(x)
        for level in self.levels:
            y = level(y)
            features.append(y)
        pyramid = [lateral(f) for lateral, f in zip(self.lateral, features)]
        for i in range(len(pyramid) - 2, -1, -1):  # top-down: coarse context into finer levels
            pyramid[i] = pyramid[i] + F.interpolate(pyramid[i + 1], size=pyramid[i].shape[-2:], mode="nearest")
        pyramid = [smooth(p) for smooth, p in zip(self.smooth, pyramid)]
        size = pyramid[0].shape[-2:]
        fused = self.fuse(
            torch.cat(
                [pyramid[0]] + [F.interpolate(p, size=size, mode="bilinear", align_corners=False) for p in pyramid[1:]],
                dim=1,
            )
        )
        top = features[-1]
        # The mask channel (index 3) pooled to the coarsest level: the target's share of each cell.
        share = F.adaptive_avg_pool2d(x[:, 3:4], top.shape[-2:])
        on_target = (top * share).sum(dim=(2, 3)) / share.sum(dim=(2, 3)).clamp_min(1e-6)
        state = torch.cat([top.mean(dim=(2, 3)), on_target], dim=1)
        return fused, self.width_head(state), state

    @property
    def free_space(self) -> bool:
        return self.config["free_space"]

    @free_space.setter
    def free_space(self, value: bool) -> None:
        self.config["free_space"] = bool(value)

    @property
    def state_features(self) -> int:
        """Size of the pooled state features :meth:`encode` returns."""
        return self.width_head.in_features

    def grasp_logits(self, fused: torch.Tensor, width_index: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
        """Q_grasp logits (B, h, w), unmasked, of each row's width. ``fused`` with one row is
        shared by every width asked for (one map per candidate width)."""
        width_index = torch.as_tensor(width_index, dtype=torch.long).reshape(-1)
        if len(fused) == 1 and len(width_index) != 1:
            fused = fused.expand(len(width_index), -1, -1, -1)
        embedding = self.width_embedding(width_index)[:, :, None, None].expand(-1, -1, *fused.shape[-2:])
        logits = self.grasp_head(torch.cat([fused, embedding], dim=1))
        logits = F.interpolate(logits, scale_factor=2, mode="bilinear", align_corners=False)
        return logits[:, 0, : shape[0], : shape[1]]

    def forward(
        self, x: torch.Tensor, valid: torch.Tensor, width_index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(Q_width logits (B, widths), log pi(cell | s, w) (B, h*w)) with w = ``width_index`` per row."""
        fused, width_logits, _ = self.encode(x)
        return width_logits, masked_log_softmax(self.grasp_logits(fused, width_index, tuple(valid.shape[1:])), valid)

    def log_prob(
        self, x: torch.Tensor, valid: torch.Tensor, width_index: torch.Tensor, cell: torch.Tensor
    ) -> torch.Tensor:
        """log pi(a | s) of stored actions (B,), differentiable."""
        width_logits, pixel_log_probs = self(x, valid, width_index)
        return action_log_prob(width_logits, pixel_log_probs, width_index, cell)

    # --- acting ------------------------------------------------------------------------------

    def prepare(self, observation: dict, info: dict | None = None) -> dict[str, np.ndarray]:
        """The compact policy input of an environment observation (``rgb``, ``depth``, ``target_mask``);
        with :attr:`free_space`, also where each width is clear, which needs the step's ``info``
        (the camera, ``grasp_depth_m``, ``fingertip_clearance_m``)."""
        clear = None
        if self.free_space:
            if info is None or "grasp_depth_m" not in info:
                raise ValueError(
                    "a policy acting on free space needs the environment's info with the observation "
                    "(camera, grasp_depth_m, fingertip_clearance_m): pass info, or set free_space=False"
                )
            camera, depth_m = camera_from_info(observation, info), np.asarray(observation["depth"])
            target = np.asarray(observation["target_mask"], bool)
            px_m = float(camera.metres_per_pixel(np.median(depth_m[target])))
            clear = clear_for_widths(
                depth_m, camera, px_m, self.widths_m, info["grasp_depth_m"], info["fingertip_clearance_m"], where=target
            )
        return prepare(observation["rgb"], observation["depth"], observation["target_mask"], self.downsample, clear)

    @torch.no_grad()
    def action_maps(self, compact: dict[str, np.ndarray], width_indices=None, temperature: float = 1.0):
        """For one observation: log pi(w) (widths,) and log pi(cell | w) (len(width_indices), h*w),
        numpy float64; default: every width. ``temperature`` divides the logits (1: the policy)."""
        fused, width_log_probs, cells = self.encode_one(compact, temperature)
        widths = range(len(self.widths_m)) if width_indices is None else width_indices
        return width_log_probs, self.cell_log_probs(fused, cells, widths, temperature)

    def act(
        self,
        observation: dict,
        sample: bool = False,
        rng: np.random.Generator | None = None,
        temperature: float = 1.0,
        compact: dict | None = None,
        info: dict | None = None,
    ) -> PolicyAction:
        """One action: greedy (the paper's argmax of Q_width, then of Q_grasp at that width) or
        sampled from pi (width first, then the cell). ``compact``: the prepared observation, if the
        caller already has it; ``info``: the step's, for a policy acting on free space."""
        if sample and rng is None:
            raise ValueError("sampling needs rng, a numpy Generator")
        compact = self.prepare(observation, info) if compact is None else compact
        with torch.no_grad():
            fused, width_log_probs, cells = self.encode_one(compact, temperature)
            width = _choose(width_log_probs, sample, rng)
            pixel_log_probs = self.cell_log_probs(fused, cells, [width], temperature)[0]
        cell = _choose(pixel_log_probs, sample, rng)
        u, v = cell_to_pixel(cell, observation["target_mask"], self.downsample)
        return PolicyAction(width, cell, u, v, float(width_log_probs[width] + pixel_log_probs[cell]))

    def encode_one(self, compact: dict, temperature: float = 1.0):
        """One prepared observation -> (decoder features, log pi(w) numpy (widths,), the cells
        allowed at each width (widths, h, w))."""
        x, valid = to_tensors(stack([compact]), self.input)
        clear = torch.as_tensor(compact["clear"])[None] if "clear" in compact else None
        width_allowed, cells = action_masks(valid, clear, len(self.widths_m))
        fused, width_logits, _ = self.encode(x)
        return fused, masked_log_softmax(width_logits / temperature, width_allowed)[0].double().numpy(), cells[0]

    def cell_log_probs(self, fused, cells, widths, temperature: float = 1.0) -> np.ndarray:
        """log pi(cell | w), numpy (len(widths), h*w), from :meth:`encode_one`'s features and cells."""
        widths = torch.as_tensor(list(widths), dtype=torch.long)
        logits = self.grasp_logits(fused, widths, tuple(cells.shape[1:]))
        return masked_log_softmax(logits / temperature, cells[widths]).double().numpy()


def _choose(log_probs: np.ndarray, sample: bool, rng: np.random.Generator | None) -> int:
    if not sample:
        return int(np.argmax(log_probs))
    probabilities = np.exp(log_probs - log_probs.max())
    return int(rng.choice(len(probabilities), p=probabilities / probabilities.sum()))


# --- checkpoints -----------------------------------------------------------------------------


def policy_payload(policy: GraspPolicy, **extra) -> dict:
    """What a policy checkpoint holds: enough for :func:`load_policy`, plus ``extra`` (how it was made)."""
    return {"kind": CHECKPOINT_KIND, "policy_config": policy.config, "state_dict": policy.state_dict(), **extra}


def load_policy(path) -> GraspPolicy:
    """A policy from a checkpoint of ``train-policy`` or ``reinforce`` (any of their .pt files), in
    evaluation mode; a file that is not one fails with a message naming it."""
    return policy_from_checkpoint(read_checkpoint(path), str(path))


def read_checkpoint(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"policy checkpoint {path} does not exist; {CHECKPOINT_FIX}")
    return read_checkpoint_dict(
        path,
        "an IVFP policy checkpoint",
        CHECKPOINT_FIX,
        lambda checkpoint: checkpoint.get("kind") == CHECKPOINT_KIND,
        "not written by `graspbench ivfp train-policy` or `reinforce`",
    )


def policy_from_checkpoint(checkpoint: dict, source: str) -> GraspPolicy:
    with reading(source, "an IVFP policy checkpoint", CHECKPOINT_FIX):
        policy = GraspPolicy(**checkpoint["policy_config"])
        policy.load_state_dict(checkpoint["state_dict"])
    return policy.eval()


__all__ = ["GraspPolicy", "PolicyAction", "load_policy", "policy_payload", "read_checkpoint"]
