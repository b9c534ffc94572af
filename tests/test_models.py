"""The grasp networks: output contract, sizes, parameter counts, rebuild from config, switches."""

import json

import pytest
import torch
from torch import nn

from graspbench.planners.models import (
    MODELS,
    MTGCNN,
    GPNet,
    GraspMaps,
    build_model,
    count_parameters,
    quality_star,
)

INPUT_KINDS = {"depth": 1, "rgb": 3, "rgbd": 4}

# Parameter counts the papers give (REFERENCE.md "Planar FCN planners", the MTG-CNN paper).
PAPER_PARAMETERS = [
    ("ggcnn", 1, {}, 62_000),
    ("ggcnn", 4, {}, 70_000),
    ("ggcnn2", 1, {}, 67_000),
    ("grconvnet", 1, {}, 1_900_000),
    ("mtgcnn", 3, {}, 115_000),
    ("mtgcnn", 3, {"auxiliary": False}, 70_000),
]
PARAMETER_TOLERANCE = 0.25

# Non-default options, so that a rebuild that ignored them would show.
NON_DEFAULT_CONFIGS = {
    "ggcnn": {},
    "ggcnn2": {},
    "grconvnet": {"dropout": 0.3},
    "mlgsl_fcn": {"sam": "all"},
    "mtgcnn": {"aux": "saliency", "auxiliary": False},
    "gpnet": {"cgc": False, "gpp": False},
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Stay on one core: the machine running the tests is shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def image(channels: int, height: int = 224, width: int = 224, batch: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(channels * 1000 + height + width + batch)
    return torch.rand(batch, channels, height, width, generator=generator)


def present_maps(maps: GraspMaps) -> list[torch.Tensor]:
    return [t for t in (maps.q, maps.cos2, maps.sin2, maps.opening, maps.aux, maps.priority) if t is not None]


def first_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


def check_maps(maps: GraspMaps, batch: int, height: int, width: int) -> None:
    assert isinstance(maps, GraspMaps)
    for tensor in present_maps(maps):
        assert isinstance(tensor, torch.Tensor)
        assert tensor.shape == (batch, 1, height, width)
        assert tensor.dtype == torch.float32
        assert torch.isfinite(tensor).all()


@pytest.mark.parametrize("kind", INPUT_KINDS)
@pytest.mark.parametrize("name", MODELS)
def test_inference_maps_at_224(name, kind):
    channels = INPUT_KINDS[kind]
    model = build_model(name, channels).eval()
    with torch.no_grad():
        maps = model(image(channels))
    check_maps(maps, 1, 224, 224)
    assert maps.aux is None  # MTG-CNN skips its auxiliary branch in eval mode
    if name == "gpnet":
        assert maps.priority is not None
        assert ((maps.priority >= 0) & (maps.priority <= 1)).all()
    else:
        assert maps.priority is None


@pytest.mark.parametrize("name", MODELS)
def test_small_and_non_square_inputs(name):
    model = build_model(name, 4).eval()
    with torch.no_grad():
        check_maps(model(image(4, 64, 64, batch=2)), 2, 64, 64)
        check_maps(model(image(4, 64, 96)), 1, 64, 96)


@pytest.mark.parametrize("name", MODELS)
def test_wrong_channel_count_is_rejected(name):
    model = build_model(name, 1)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        model(image(3, 64, 64))


@pytest.mark.parametrize(("name", "channels", "config", "paper_count"), PAPER_PARAMETERS)
def test_parameter_count_matches_paper(name, channels, config, paper_count):
    count = count_parameters(build_model(name, channels, **config))
    assert abs(count - paper_count) <= PARAMETER_TOLERANCE * paper_count, count


def test_gpnet_parameter_count_reported(record_property):
    """The GP-Net paper gives no count; it calls the network lightweight, i.e. below GR-ConvNet."""
    counts = {channels: count_parameters(GPNet(channels)) for channels in INPUT_KINDS.values()}
    for channels, count in counts.items():
        record_property(f"gpnet_parameters_{channels}ch", count)
    assert counts[1] < count_parameters(build_model("grconvnet", 1))


@pytest.mark.parametrize("name", MODELS)
def test_config_rebuilds_the_same_architecture(name):
    model = build_model(name, 4, **NON_DEFAULT_CONFIGS[name])
    config = json.loads(json.dumps(model.config))  # plain values only
    assert config["name"] == name
    assert config["input_channels"] == 4
    for key, value in NON_DEFAULT_CONFIGS[name].items():
        assert config[key] == value
    rebuilt = build_model(**config)
    assert type(rebuilt) is type(model)
    assert rebuilt.config == model.config
    original = {key: tuple(t.shape) for key, t in model.state_dict().items()}
    again = {key: tuple(t.shape) for key, t in rebuilt.state_dict().items()}
    assert again == original
    rebuilt.load_state_dict(model.state_dict())  # strict


@pytest.mark.parametrize("name", MODELS)
def test_gradients_reach_the_first_layer(name):
    torch.manual_seed(0)
    model = build_model(name, 1).train()
    maps = model(image(1, 64, 64, batch=2))
    sum(t.sum() for t in present_maps(maps)).backward()
    grad = first_conv(model).weight.grad
    assert grad is not None
    assert torch.isfinite(grad).all()
    assert grad.abs().sum() > 0


@pytest.mark.parametrize("aux", ["depth", "saliency"])
def test_mtgcnn_skips_aux_at_inference_without_changing_grasp_maps(aux):
    torch.manual_seed(0)
    model = MTGCNN(3, aux=aux)
    x = image(3, 64, 64)
    with torch.no_grad():
        training = model.train()(x)
        inference = model.eval()(x)
        forced = model(x, with_aux=True)
        skipped_in_training = model.train()(x, with_aux=False)
    assert training.aux is not None and training.aux.shape == (1, 1, 64, 64)
    assert forced.aux is not None
    assert inference.aux is None and skipped_in_training.aux is None
    for with_branch, without in zip(training.grasp_maps(), inference.grasp_maps()):
        assert torch.equal(with_branch, without)


def test_mtgcnn_without_auxiliary_is_the_ggcnn_baseline():
    full = MTGCNN(3)
    baseline = MTGCNN(3, auxiliary=False)
    assert count_parameters(baseline) == count_parameters(build_model("ggcnn2", 3))
    baseline_keys = set(baseline.state_dict())
    assert baseline_keys < set(full.state_dict())
    assert not any(key.startswith("aux") for key in baseline_keys)
    maps = baseline.train()(image(3, 64, 64), with_aux=True)
    assert maps.aux is None


def test_gpnet_switches():
    x = image(4, 64, 64)
    full = GPNet(4).eval()
    no_gpp = GPNet(4, gpp=False).eval()
    no_cgc = GPNet(4, cgc=False).eval()
    with torch.no_grad():
        maps = full(x)
        maps_no_gpp = no_gpp(x)
        check_maps(no_cgc(x), 1, 64, 64)
    assert maps_no_gpp.priority is None
    assert torch.equal(quality_star(maps_no_gpp), maps_no_gpp.q)
    assert torch.allclose(quality_star(maps), maps.q * maps.priority)
    assert count_parameters(no_gpp) < count_parameters(full)
    assert count_parameters(no_cgc) != count_parameters(full)
    assert not any("attention.calibrated" in key for key in no_cgc.state_dict())


def test_sam_variants_change_parameters_not_shapes():
    counts = {}
    x = image(1, 64, 64)
    for sam in ("none", "down", "up", "all"):
        model = build_model("mlgsl_fcn", 1, sam=sam).eval()
        counts[sam] = count_parameters(model)
        with torch.no_grad():
            check_maps(model(x), 1, 64, 64)
    assert len(set(counts.values())) == 4
    assert counts["none"] < counts["up"] < counts["down"] < counts["all"]


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(ValueError) as error:
        build_model("ggcnn3", 1)
    assert "ggcnn3" in str(error.value)
    for name in MODELS:
        assert name in str(error.value)


@pytest.mark.parametrize(
    ("name", "channels", "config", "field"),
    [
        ("ggcnn", 1, {"dropout": 0.1}, "dropout"),
        ("mlgsl_fcn", 1, {"sam": "everywhere"}, "sam"),
        ("mtgcnn", 3, {"aux": "segmentation"}, "aux"),
        ("mtgcnn", 3, {"auxiliary": "yes"}, "auxiliary"),
        ("grconvnet", 1, {"dropout": 1.5}, "dropout"),
        ("gpnet", 4, {"gpp": 1}, "gpp"),
        ("ggcnn2", 0, {}, "input_channels"),
        ("ggcnn2", 2.5, {}, "input_channels"),
    ],
)
def test_bad_config_names_the_field(name, channels, config, field):
    with pytest.raises(ValueError, match=field):
        build_model(name, channels, **config)
