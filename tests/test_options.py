"""Options written once: flags from a dataclass's fields and docstrings, resume or refuse."""

import argparse
from dataclasses import dataclass, field

import pytest

from graspbench.options import (
    add_options,
    check_options,
    check_resume,
    field_docs,
    fingerprint,
    non_negative_int,
    options_from,
    positive_int,
)


@dataclass
class Toy:
    epochs: int = field(default=3, metadata={"type": positive_int})
    """passes over the data"""
    lr: float = 1e-3
    """learning rate"""
    input: str = field(default="depth", metadata={"choices": ("depth", "rgb")})
    """what the network sees"""
    crop_px: int | None = field(default=None, metadata={"type": non_negative_int})
    """window size; None: whole images"""
    augment: bool = True
    """rotations and flips"""
    verbose: bool = False
    """say more"""
    keep: tuple[int, ...] = (20, 50)
    """checkpoints to keep"""
    extra: dict = field(default_factory=dict)
    """no flag of its own"""


def _parser(**kwargs):
    parser = argparse.ArgumentParser()
    add_options(parser, Toy, skip=("extra",), **kwargs)
    return parser


def test_the_docstring_under_each_field_is_its_help():
    assert field_docs(Toy)["crop_px"] == "window size; None: whole images"
    help_text = _parser().format_help()
    assert "--epochs" in help_text and "passes over the data (default: 3)" in help_text
    assert "--no-augment" in help_text and "--verbose" in help_text and "--crop-px" in help_text


def test_flags_parse_back_into_the_dataclass():
    argv = ["--epochs", "5", "--no-augment", "--verbose", "--crop-px", "32", "--input", "rgb", "--keep", "10,30"]
    options = options_from(_parser().parse_args(argv), Toy, extra={"a": 1})
    assert options == Toy(
        epochs=5, lr=1e-3, input="rgb", crop_px=32, augment=False, verbose=True, keep=(10, 30), extra={"a": 1}
    )
    assert options_from(_parser().parse_args([]), Toy) == Toy()


def test_bad_values_and_missing_required_flags_are_refused():
    for argv in (["--epochs", "0"], ["--input", "ir"], ["--crop-px", "-1"], ["--keep", "20,x"]):
        with pytest.raises(SystemExit):
            _parser().parse_args(argv)
    with pytest.raises(SystemExit):
        _parser(required=("lr",)).parse_args([])
    with pytest.raises(TypeError, match="extra"):
        add_options(argparse.ArgumentParser(), Toy)


def test_a_run_resumes_only_with_the_same_options_and_says_which_differs(tmp_path):
    saved = {"epochs": 3, "lr": 1e-3, "input": "depth"}
    check_resume(saved, {**saved, "epochs": 10}, tmp_path, free=("epochs",))
    with pytest.raises(ValueError, match=r"other arguments.*lr was 0.001, now 0.01"):
        check_resume(saved, {**saved, "lr": 1e-2}, tmp_path)
    # An option added after the run began: the run had its default, else it cannot resume.
    check_resume(saved, {**saved, "crop_px": None}, tmp_path, defaults={"crop_px": None})
    with pytest.raises(ValueError, match="crop_px was not recorded, so None, now 32"):
        check_resume(saved, {**saved, "crop_px": 32}, tmp_path, defaults={"crop_px": None})
    assert fingerprint(saved) == fingerprint(dict(reversed(saved.items())))
    assert fingerprint(saved, ignore=("epochs",)) == fingerprint({**saved, "epochs": 9}, ignore=("epochs",))


def test_options_made_in_code_are_checked_as_their_flags_would_be():
    check_options(Toy())
    with pytest.raises(ValueError, match="--epochs must be at least 1, got 0"):
        check_options(Toy(epochs=0))
    with pytest.raises(ValueError, match="--input 'ir' is not one of"):
        check_options(Toy(input="ir"))
    with pytest.raises(ValueError, match="--crop-px must be 0 or more, got -1"):
        check_options(Toy(crop_px=-1))


def test_flags_a_preset_supplies_default_to_none_and_say_so():
    parser = _parser(preset_fields=("epochs", "augment"), types={"lr": lambda text: float(text) / 2})
    assert "passes over the data (default: the preset's)" in parser.format_help()
    args = parser.parse_args([])
    assert args.epochs is None and args.augment is None and args.lr == 1e-3 and args.input == "depth"
    assert parser.parse_args(["--epochs", "4", "--no-augment", "--lr", "1"]).augment is False
    assert parser.parse_args(["--lr", "1"]).lr == 0.5
