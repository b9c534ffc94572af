"""MTG-CNN (Prew et al.): GG-CNN2 with an auxiliary branch used only in training."""

from __future__ import annotations

from torch import Tensor, nn

from .common import GraspHeads, GraspMaps, check_bool, check_choice, check_input, check_input_channels, match_size
from .ggcnn import GGCNN2_FILTERS, ggcnn2_dilated_layers, ggcnn2_down_layers, transposed_up_layers

AUX_TASKS = ("depth", "saliency")
"""What the auxiliary branch learns: depth reconstruction (depth normalised to [0, 1]) or the
object's saliency mask. The architecture is the same; the choice tells the loss its target."""


def second_half() -> list[nn.Module]:
    """One branch of the second half: two dilated convs (32) and two 3x3 stride-2 transposed convs (16)."""
    return ggcnn2_dilated_layers(GGCNN2_FILTERS) + transposed_up_layers()


class MTGCNN(nn.Module):
    """MTG-CNN, the multi-task grasping CNN of Prew, Breckon, Bordewich and Beierholm (2020).

    Shared first half (GG-CNN2's: conv 11x11, conv 5x5, max-pool, conv 5x5, conv 5x5, max-pool; 16
    filters, ReLU), then two identical branches, each two 5x5 dilated convs (dilation 2, 4; 32
    filters) and two 3x3 stride-2 transposed convs (16 filters). The grasp branch ends in the four
    1x1 grasp heads, the auxiliary branch in one 1x1 head (``GraspMaps.aux``; raw output, no
    activation). ``auxiliary=False`` removes the branch: that is the paper's RGB GG-CNN baseline.

    When the auxiliary branch runs: ``forward(x, with_aux=None)`` runs it in training mode and skips
    it in eval mode, so inference costs what the baseline costs; pass ``with_aux=True`` or ``False``
    to override (e.g. a validation loss that needs the auxiliary map). Skipping it never changes
    the grasp maps.

    Parameters for RGB input (the paper's): 115,973 with the branch (the paper: 115k), 70,548
    without (the paper: 70k); for depth input: 112,101 and 66,676.

    Args:
        input_channels: 3 (RGB, the paper's input), 1 (depth) or 4 (RGB-D).
        aux: the auxiliary task, "depth" or "saliency".
        auxiliary: False builds the plain GG-CNN baseline with no auxiliary branch.
    """

    name = "mtgcnn"

    def __init__(self, input_channels: int = 3, aux: str = "depth", auxiliary: bool = True):
        super().__init__()
        self.input_channels = check_input_channels(input_channels)
        self.aux = check_choice("aux", aux, AUX_TASKS)
        self.auxiliary = check_bool("auxiliary", auxiliary)
        self.config = {
            "name": self.name,
            "input_channels": self.input_channels,
            "aux": self.aux,
            "auxiliary": self.auxiliary,
        }

        self.shared = nn.Sequential(*ggcnn2_down_layers(self.input_channels))
        self.grasp_branch = nn.Sequential(*second_half())
        self.heads = GraspHeads(GGCNN2_FILTERS)
        if self.auxiliary:
            self.aux_branch = nn.Sequential(*second_half())
            self.aux_head = nn.Conv2d(GGCNN2_FILTERS, 1, kernel_size=1)
        else:
            self.aux_branch = None
            self.aux_head = None

    def forward(self, x: Tensor, with_aux: bool | None = None) -> GraspMaps:
        """Predict grasp maps, and the auxiliary map when the branch runs.

        Args:
            x: (B, C, H, W) image.
            with_aux: run the auxiliary branch; None (default) means "in training mode only".
                Ignored (aux stays None) when the model was built with ``auxiliary=False``.
        """
        check_input(x, self.input_channels, type(self).__name__)
        height, width = x.shape[-2], x.shape[-1]
        features = self.shared(x)
        maps = self.heads(self.grasp_branch(features), height, width)
        run_aux = self.training if with_aux is None else with_aux
        if run_aux and self.aux_branch is not None:
            maps.aux = match_size(self.aux_head(self.aux_branch(features)), height, width)
        return maps
