"""The training losses on tiny hand-made batches; expected values are worked out by hand below."""

import math
from types import SimpleNamespace

import pytest
import torch

from graspbench.planners.losses import (
    LOSSES,
    MLGSL_LOG_EPS,
    NORMALIZED_Q_EPS,
    auxiliary,
    imgmse,
    make_loss,
    mlgsl,
    mlgsl_log,
    pixmse,
    positional,
    priority,
    smooth_l1,
    total,
)

H = W = 4  # every test image is 4 x 4: 16 pixels
N = H * W


def _maps(q=0.0, cos2=0.0, sin2=0.0, opening=0.0, aux=None, priority=None, batch=1):
    """A network output; each map a constant or a (H, W) / (B, H, W) tensor, requiring grad."""

    def image(x):
        if x is None:
            return None
        x = torch.as_tensor(x, dtype=torch.float32)
        x = x.expand(batch, H, W) if x.dim() < 3 else x
        return x.reshape(batch, 1, H, W).clone().requires_grad_(True)

    return SimpleNamespace(
        q=image(q), cos2=image(cos2), sin2=image(sin2), opening=image(opening), aux=image(aux), priority=image(priority)
    )


def _batch(labels, dense=None, batch=1, k=None):
    """A collated-like batch. ``labels``: per image a list of (u, v, angle, opening_px); padded to
    ``k`` labels with zeros (collate's padding: uv = (0, 0), mask False)."""
    k = max((len(image) for image in labels), default=0) if k is None else k
    out = {
        "label_uv": torch.zeros(batch, k, 2),
        "label_angle": torch.zeros(batch, k),
        "label_opening_px": torch.zeros(batch, k),
        "label_jaw_size_px": torch.full((batch, k), 10.0),
        "label_mask": torch.zeros(batch, k, dtype=torch.bool),
    }
    for b, image in enumerate(labels):
        for i, (u, v, angle, opening) in enumerate(image):
            out["label_uv"][b, i] = torch.tensor([u, v])
            out["label_angle"][b, i] = angle
            out["label_opening_px"][b, i] = opening
            out["label_mask"][b, i] = True
    for key in ("q", "cos2", "sin2", "opening", "priority", "depth_target", "saliency"):
        out[key] = torch.zeros(batch, 1, H, W)
    for key, value in (dense or {}).items():
        out[key] = torch.as_tensor(value, dtype=torch.float32).reshape(batch, 1, H, W)
    return out


def _values(terms):
    return {key: value.item() for key, value in terms.items()}


# Two labels on one image (rows v, columns u):
#   A at uv (1.2, 2.4) -> pixel (v=2, u=1); angle 0:     cos2 1, sin2 0; opening 30 px -> 0.2
#   B at uv (3.6, -0.7) -> rounds to (4, -1), clipped to (v=0, u=3); angle pi/4: cos2 0, sin2 1;
#     opening 75 px -> 0.5
LABELS = [[(1.2, 2.4, 0.0, 30.0), (3.6, -0.7, math.pi / 4, 75.0)]]
A, B = (2, 1), (0, 3)


def _q_at(values):
    """A (H, W) map, 0 except ``values = {(v, u): value}``."""
    q = torch.zeros(H, W)
    for (v, u), value in values.items():
        q[v, u] = value
    return q


# ------------------------------------------------------------------------------------------------
# Values by hand


def test_imgmse_by_hand():
    dense = {
        "q": _q_at({A: 1.0, B: 1.0}),
        "cos2": _q_at({A: 1.0}),
        "sin2": _q_at({B: 1.0}),
        "opening": _q_at({A: 0.2, B: 0.5}),
    }
    maps = _maps(q=0.0, cos2=0.5, sin2=0.0, opening=0.2)
    terms = _values(imgmse(maps, _batch(LABELS, dense)))
    # q: two pixels off by 1 -> 2 / 16; cos2: 15 pixels off by 0.5, one (A) by 0.5 -> 16 * 0.25 / 16
    # sin2: one pixel off by 1 -> 1 / 16; opening: A exact, B off by 0.3, 14 pixels off by 0.2
    assert terms["q"] == pytest.approx(2 / 16)
    assert terms["cos2"] == pytest.approx(0.25)
    assert terms["sin2"] == pytest.approx(1 / 16)
    assert terms["opening"] == pytest.approx((0.09 + 14 * 0.04) / 16)


def test_pixmse_by_hand():
    maps = _maps(q=_q_at({A: 0.5, B: 1.0}), cos2=0.0, sin2=0.0, opening=0.1)
    terms = _values(pixmse(maps, _batch(LABELS)))
    # q: A (0.5 - 1)^2 = 0.25, B (1 - 1)^2 = 0 -> 0.125
    # cos2: A (0 - 1)^2 = 1, B (0 - cos(pi/2))^2 = 0 -> 0.5; sin2: A 0, B (0 - 1)^2 = 1 -> 0.5
    # opening: A (0.1 - 0.2)^2 = 0.01, B (0.1 - 0.5)^2 = 0.16 -> 0.085
    assert terms == pytest.approx({"q": 0.125, "cos2": 0.5, "sin2": 0.5, "opening": 0.085}, abs=1e-6)


def test_sparse_losses_average_labels_per_image_then_images():
    # Image 0: labels A and B as above; image 1: one label at pixel (v=1, u=1), angle 0, 30 px.
    labels = LABELS + [[(1.0, 1.0, 0.0, 30.0)]]
    maps = _maps(q=0.0, cos2=0.0, sin2=0.0, opening=0.0, batch=2)
    terms = _values(pixmse(maps, _batch(labels, batch=2)))
    # q: both images (0 - 1)^2 per label -> 1 and 1 -> 1
    # cos2: image 0 (1 + 0) / 2 = 0.5, image 1: 1 -> 0.75 (a mean over the 3 labels would say 2/3)
    # opening: image 0 (0.04 + 0.25) / 2 = 0.145, image 1 0.04 -> 0.0925
    assert terms["q"] == pytest.approx(1.0)
    assert terms["cos2"] == pytest.approx(0.75)
    assert terms["opening"] == pytest.approx((0.145 + 0.04) / 2)


def test_mlgsl_softmax_by_hand():
    # q logits: log 5 at A, 0 elsewhere -> sum of exp = 5 + 15 = 20
    # -log P(A) = -log(5/20) = log 4; -log P(B) = -log(1/20) = log 20; mean = log(80) / 2
    maps = _maps(q=_q_at({A: math.log(5.0)}), cos2=0.0, sin2=0.0, opening=0.1)
    terms = _values(mlgsl(maps, _batch(LABELS)))
    assert terms["pixel"] == pytest.approx(math.log(80.0) / 2, rel=1e-6)
    # the regression terms are PixMSE's: cos2 0.5, sin2 0.5, opening 0.085
    assert terms["cos2"] == pytest.approx(0.5)
    assert terms["sin2"] == pytest.approx(0.5)
    assert terms["opening"] == pytest.approx(0.085)


def test_mlgsl_normalized_is_q_over_sum_q():
    # Q = softplus(q) + eps. softplus(log(e^k - 1)) = k: Q = 3 at A, 1 at the 15 other pixels.
    # -log P(A) = -log((3 + eps) / (18 + 16 eps)) ~ log 6
    one, three = math.log(math.e - 1), math.log(math.e**3 - 1)
    q = torch.full((H, W), one)
    q[A] = three
    maps = _maps(q=q)
    labels = [[(1.0, 2.0, 0.0, 30.0)]]  # A only
    eps = NORMALIZED_Q_EPS
    expected = -math.log((3 + eps) / (18 + 16 * eps))
    assert expected == pytest.approx(math.log(6), rel=1e-5)
    assert mlgsl(maps, _batch(labels), pixel_term="normalized")["pixel"].item() == pytest.approx(expected, rel=1e-5)
    loss = make_loss("mlgsl", pixel_term="normalized")
    assert loss(maps, _batch(labels))["pixel"].item() == pytest.approx(expected, rel=1e-5)
    # a negative output still has a share (softplus, not relu): q = -2 at A, 0 elsewhere
    maps = _maps(q=_q_at({A: -2.0}))
    share = math.log1p(math.exp(-2.0)) + eps
    rest = 15 * (math.log(2.0) + eps)
    assert mlgsl(maps, _batch(labels), pixel_term="normalized")["pixel"].item() == pytest.approx(
        -math.log(share / (share + rest)), rel=1e-5
    )


def test_mlgsl_log_by_hand():
    maps = _maps(q=_q_at({A: math.log(5.0)}), cos2=0.0, sin2=0.0, opening=0.1)
    terms = _values(mlgsl_log(maps, _batch(LABELS)))
    # angle MSE: A ((0-1)^2 + 0^2) / 2 = 0.5, B (0 + (0-1)^2) / 2 = 0.5 -> 0.5; opening MSE 0.085
    assert terms["pixel"] == pytest.approx(math.log(80.0) / 2, rel=1e-6)
    assert terms["log_angle"] == pytest.approx(math.log(0.5 + MLGSL_LOG_EPS), rel=1e-6)
    assert terms["log_opening"] == pytest.approx(math.log(0.085 + MLGSL_LOG_EPS), rel=1e-5)


def test_mlgsl_log_image_without_labels_contributes_zero():
    labels = LABELS + [[]]
    maps = _maps(q=0.0, cos2=0.0, sin2=0.0, opening=0.1, batch=2)
    terms = _values(mlgsl_log(maps, _batch(labels, batch=2)))
    # image 0 as above, image 1 nothing: half of image 0's values
    assert terms["log_angle"] == pytest.approx(math.log(0.5 + MLGSL_LOG_EPS) / 2, rel=1e-6)
    assert terms["pixel"] == pytest.approx(math.log(16.0) / 2, rel=1e-6)  # uniform: -log(1/16)


def test_positional_by_hand():
    q_gt = _q_at({A: 1.0, B: 1.0, (3, 3): 0.5})
    maps = _maps(q=0.0, cos2=1.0, sin2=0.0, opening=0.0)
    terms = _values(positional(maps, _batch(LABELS, {"q": q_gt, "opening": _q_at({A: 0.2})})))
    # q: (1 + 1 + 0.25) / 16; cos2: errors 1 everywhere, weighted (1, 1, 0.5) -> (1 + 1 + 0.25) / 16
    # sin2: no error; opening: only A, weighted 1, error 0.2 -> 0.04 / 16
    assert terms == pytest.approx({"q": 2.25 / 16, "cos2": 2.25 / 16, "sin2": 0.0, "opening": 0.04 / 16})


def test_priority_by_hand():
    p_gt = _q_at({A: 1.0, B: 0.5})
    dense = {"q": _q_at({A: 1.0}), "priority": p_gt, "cos2": _q_at({B: 1.0})}
    maps = _maps(q=0.0, cos2=0.0, sin2=0.0, opening=0.3, priority=0.5)
    terms = _values(priority(maps, _batch(LABELS, dense)))
    # q: 1 / 16; cos2: only B errs (by 1), weight 0.5 -> 0.25 / 16; sin2: 0
    # opening: errors 0.3 everywhere, weighted 1 at A, 0.5 at B -> (0.09 + 0.0225) / 16
    # priority: (0.5 - 1)^2 at A, 0 at B, 0.25 at 14 others -> (0.25 + 14 * 0.25) / 16
    assert terms == pytest.approx(
        {"q": 1 / 16, "cos2": 0.25 / 16, "sin2": 0.0, "opening": 0.1125 / 16, "priority": 3.75 / 16}
    )


def test_priority_needs_a_priority_head():
    with pytest.raises(ValueError, match="priority"):
        priority(_maps(), _batch(LABELS))


def test_smooth_l1_by_hand():
    maps = _maps(q=_q_at({A: 0.5, B: 3.0}), cos2=0.0, sin2=0.0, opening=0.0)
    terms = _values(smooth_l1(maps, _batch(LABELS, {"q": _q_at({B: 1.0})})))
    # q: A error 0.5 -> 0.5 * 0.25 = 0.125; B error 2 -> 2 - 0.5 = 1.5 -> 1.625 / 16
    assert terms == pytest.approx({"q": 1.625 / 16, "cos2": 0.0, "sin2": 0.0, "opening": 0.0})


def test_auxiliary_term_and_make_loss():
    maps = _maps(q=0.0, aux=0.5)
    batch = _batch(LABELS, {"depth_target": _q_at({A: 1.0}), "saliency": _q_at({A: 1.0, B: 1.0})})
    # depth: A off by 0.5, 15 pixels off by 0.5 -> 0.25; saliency: 16 pixels off by 0.5 -> 0.25
    assert auxiliary(maps, batch, "depth_target")["aux"].item() == pytest.approx(0.25)
    maps = _maps(q=0.0, aux=1.0)
    # saliency: 14 pixels off by 1 -> 14 / 16
    terms = make_loss("positional", auxiliary="saliency")(maps, batch)
    assert set(terms) == {"q", "cos2", "sin2", "opening", "aux"}
    assert terms["aux"].item() == pytest.approx(14 / 16)
    assert total(terms).item() == pytest.approx(sum(value.item() for value in terms.values()))
    with pytest.raises(ValueError, match="aux"):
        make_loss("imgmse", auxiliary="depth_target")(_maps(), batch)
    with pytest.raises(ValueError, match="depth_target"):
        make_loss("imgmse", auxiliary="normals")


def test_make_loss_validates():
    with pytest.raises(ValueError, match="imgmse"):
        make_loss("nope")
    with pytest.raises(ValueError, match="pixel_term"):
        make_loss("imgmse", pixel_term="softmax")
    with pytest.raises(ValueError, match="softmax"):
        make_loss("mlgsl", pixel_term="relu")
    assert set(LOSSES) == {"imgmse", "pixmse", "mlgsl", "mlgsl_log", "positional", "priority", "smooth_l1"}
    assert set(make_loss("mlgsl")(_maps(), _batch(LABELS))) == {"pixel", "cos2", "sin2", "opening"}


# ------------------------------------------------------------------------------------------------
# Where the gradients go


def _grads(loss, maps, batch, keys=("cos2", "sin2", "opening")):
    total(loss(maps, batch)).backward()
    return {key: getattr(maps, key).grad[0, 0] for key in keys}


def _nonzero_pixels(grad):
    return {tuple(index) for index in torch.nonzero(grad).tolist()}


@pytest.mark.parametrize("loss", [pixmse, mlgsl, mlgsl_log])
def test_sparse_regression_gradients_only_at_labelled_pixels(loss):
    # every prediction is wrong everywhere; padding labels sit at (0, 0) (collate's zeros)
    maps = _maps(q=0.3, cos2=0.3, sin2=0.3, opening=0.7)
    batch = _batch(LABELS, k=4)
    for key, grad in _grads(loss, maps, batch).items():
        assert _nonzero_pixels(grad) == {A, B}, key


def test_mlgsl_pixel_gradient_everywhere_up_at_label_down_elsewhere():
    maps = _maps(q=torch.randn(H, W, generator=torch.Generator().manual_seed(0)))
    labels = [[(1.0, 2.0, 0.0, 30.0)]]  # A only
    mlgsl(maps, _batch(labels, k=3))["pixel"].backward()
    grad = maps.q.grad[0, 0]
    # d(-log softmax_A)/dq_j = softmax_j - [j = A]: descent raises q at A, lowers it elsewhere
    assert grad[A] < 0
    others = torch.ones(H, W, dtype=torch.bool)
    others[A] = False
    assert (grad[others] > 0).all()
    expected = torch.softmax(maps.q.detach().flatten(), 0).reshape(H, W)
    expected[A] -= 1
    assert torch.allclose(grad, expected, atol=1e-6)


def test_positional_no_gradient_where_q_gt_is_zero():
    q_gt = _q_at({A: 1.0, B: 0.5})
    maps = _maps(q=0.3, cos2=0.3, sin2=0.3, opening=0.7)
    grads = _grads(positional, maps, _batch(LABELS, {"q": q_gt}), keys=("q", "cos2", "sin2", "opening"))
    for key in ("cos2", "sin2", "opening"):
        assert _nonzero_pixels(grads[key]) == {A, B}, key
    assert len(_nonzero_pixels(grads["q"])) == N  # q is supervised everywhere


def test_priority_no_gradient_where_p_gt_is_zero():
    p_gt = _q_at({A: 1.0, (3, 3): 0.2})
    maps = _maps(q=0.3, cos2=0.3, sin2=0.3, opening=0.7, priority=0.5)
    grads = _grads(priority, maps, _batch(LABELS, {"priority": p_gt}), keys=("cos2", "sin2", "opening", "priority"))
    for key in ("cos2", "sin2", "opening"):
        assert _nonzero_pixels(grads[key]) == {A, (3, 3)}, key
    assert len(_nonzero_pixels(grads["priority"])) == N


@pytest.mark.parametrize(
    "name, options",
    [
        ("pixmse", {}),
        ("mlgsl", {}),
        ("mlgsl", {"pixel_term": "normalized"}),
        ("mlgsl_log", {}),
        ("mlgsl_log", {"pixel_term": "normalized"}),
    ],
)
def test_padding_labels_contribute_nothing(name, options):
    loss = make_loss(name, **options)
    q = torch.randn(H, W, generator=torch.Generator().manual_seed(1))
    padded = _batch(LABELS, k=5)
    # garbage in the padding slots, at a real pixel (3, 3) that no real label uses
    padded["label_uv"][0, 2:] = torch.tensor([3.0, 3.0])
    padded["label_angle"][0, 2:] = 1.0
    padded["label_opening_px"][0, 2:] = 120.0
    results = []
    for batch in (_batch(LABELS), padded):
        maps = _maps(q=q, cos2=0.3, sin2=-0.2, opening=0.7)
        terms = loss(maps, batch)
        total(terms).backward()
        results.append((_values(terms), [getattr(maps, key).grad.clone() for key in ("q", "cos2", "sin2", "opening")]))
    (plain, plain_grads), (with_padding, padding_grads) = results
    assert with_padding == pytest.approx(plain, rel=1e-6)
    for g1, g2 in zip(plain_grads, padding_grads):
        assert torch.allclose(g1, g2, atol=1e-7)


def test_binned_quality_by_hand():
    # Two angle bins, [-90, 0) and [0, 90) degrees. Label A (angle 0) is in bin 1, B (45 degrees) too.
    maps = _maps(q=0.0, cos2=0.0, sin2=0.0, opening=0.0)
    maps.q = torch.zeros(1, 2, H, W, requires_grad=True)
    batch = _batch(LABELS)
    # imgmse: the q term is the mean over the known (pixel, bin) pairs only: 1 in bin 1 at A (off
    # by 1), 0 in bin 0 at A and B (exact); everything else unknown.
    target, weight = torch.zeros(1, 2, H, W), torch.zeros(1, 2, H, W)
    target[0, 1, A[0], A[1]] = 1.0
    weight[0, 1, A[0], A[1]] = weight[0, 0, A[0], A[1]] = weight[0, 0, B[0], B[1]] = 1.0
    batch.update(q_bins=target, q_bins_weight=weight)
    assert imgmse(maps, batch)["q"].item() == pytest.approx(1 / 3)
    # MLGSL: a softmax over the 32 (bin, pixel) pairs, read at each label's pixel in its own bin.
    with torch.no_grad():
        maps.q[0, 1, A[0], A[1]] = math.log(5.0)  # sum of exp = 5 + 31 = 36
    # -log P(A, bin 1) = log(36 / 5); -log P(B, bin 1) = log 36
    assert mlgsl(maps, batch)["pixel"].item() == pytest.approx((math.log(36 / 5) + math.log(36)) / 2, rel=1e-6)
    with pytest.raises(ValueError, match="angle bin"):
        make_loss("pixmse")(maps, batch)
    with pytest.raises(ValueError, match="angle_bins=2"):
        imgmse(maps, _batch(LABELS))
