"""Every file graspbench reads, damaged: one line that names the file, what is wrong and what to do.

(Attempt records and benchmark summaries: tests/test_benchmark.py; meshes and URDFs:
tests/test_objects.py.)
"""

import json
from pathlib import Path

import pytest
import torch

from graspbench.bench.catalogue import AGENTS_DIR, make_agent
from graspbench.cli import main
from graspbench.io import FileFormatError

CHECKPOINT = AGENTS_DIR / "weights" / "ggcnn.pt"


def _truncated(path: Path) -> bytes:
    data = CHECKPOINT.read_bytes()
    return data[: len(data) // 2]


DAMAGED_CHECKPOINTS = {
    "truncated": _truncated,
    "garbage": lambda path: b"12 garbage\x00\xff and more",
    "text": lambda path: b"not a checkpoint at all\n",
    "empty": lambda path: b"",
}


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err  # one line, no traceback
    return err


@pytest.fixture
def damaged_agent(tmp_path):
    """Factory: an agent YAML whose checkpoint is damaged in the given way."""

    def make(kind: str) -> Path:
        weights = tmp_path / "weights" / "mine.pt"
        weights.parent.mkdir(exist_ok=True)
        weights.write_bytes(DAMAGED_CHECKPOINTS[kind](weights))
        spec = tmp_path / "mine.yaml"
        spec.write_text("class: network\ncheckpoint: weights/mine.pt\n")
        return spec

    return make


@pytest.mark.parametrize("kind", sorted(DAMAGED_CHECKPOINTS))
def test_a_damaged_checkpoint_of_an_agent_names_the_file(damaged_agent, kind):
    spec = damaged_agent(kind)
    with pytest.raises(
        FileFormatError,
        match=r"mine\.pt is not a graspbench checkpoint \(.+\); make it again: "
        r"`graspbench train-agents --agents mine`",
    ):
        make_agent(str(spec))


def test_a_checkpoint_of_something_else_names_the_file(tmp_path):
    for content in ({"weights": [1, 2, 3]}, 5):
        path = tmp_path / "other.pt"
        torch.save(content, path)
        (tmp_path / "other.yaml").write_text("class: network\ncheckpoint: other.pt\n")
        with pytest.raises(ValueError, match=r"other\.pt"):
            make_agent(str(tmp_path / "other.yaml"))


@pytest.mark.parametrize("kind", ["truncated", "garbage"])
def test_commands_given_a_damaged_checkpoint_print_one_line(damaged_agent, tmp_path, capsys, kind):
    spec = damaged_agent(kind)
    assert main(["run", "--env", "GraspBench/Single-v0", "--agent", str(spec), "--episodes", "1", "--quiet"]) == 2
    assert "mine.pt is not a graspbench checkpoint" in _error_line(capsys)
    checkpoint = str(tmp_path / "weights" / "mine.pt")
    assert main(["evaluate-offline", "--checkpoint", checkpoint, "--data", str(tmp_path), "--quiet"]) == 2
    assert f"{checkpoint} is not a graspbench checkpoint" in _error_line(capsys)


def test_a_benchmark_whose_agent_has_a_damaged_checkpoint_prints_one_line(damaged_agent, tmp_path, capsys):
    spec = damaged_agent("truncated")
    assert (
        main(
            [
                "benchmark",
                "--suite",
                "quick",
                "--agents",
                str(spec),
                "--out",
                str(tmp_path / "run"),
                "--reference",
                "none",
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 2
    )
    assert "mine.pt is not a graspbench checkpoint" in _error_line(capsys)


@pytest.mark.parametrize("content", ["class: [unclosed\n", "\x00\x01\x02", "- a list\n- not a mapping\n"])
def test_a_garbage_agent_spec_names_the_file(tmp_path, capsys, content):
    spec = tmp_path / "mine.yaml"
    spec.write_text(content)
    assert main(["run", "--env", "GraspBench/Single-v0", "--agent", str(spec), "--episodes", "1", "--quiet"]) == 2
    assert str(spec) in _error_line(capsys)


@pytest.mark.parametrize(
    "content", ["scene: {kind: [unclosed\n", "\x00\x01\x02", "just a string\n", "scene: {kind: nonsense}\n"]
)
def test_a_garbage_environment_spec_names_the_file(tmp_path, capsys, content):
    spec = tmp_path / "env.yaml"
    spec.write_text(content)
    with pytest.raises(SystemExit):
        main(["run", "--env", str(spec), "--agent", "random", "--episodes", "1"])
    err = capsys.readouterr().err
    assert f"argument --env: {spec}" in err and "Traceback" not in err


# --- dataset files --------------------------------------------------------------------------------


@pytest.fixture
def dataset(tmp_path):
    from test_dataset import SCENE0_LABELS, _scene, _write_dataset

    root = tmp_path / "dataset"
    _write_dataset(root, {0: _scene(0, SCENE0_LABELS, [(15, 26, 25, 36, 0.05)])})
    metadata = json.loads((root / "dataset.json").read_text())
    (root / "dataset.json").write_text(json.dumps({**metadata, "spec": {"scene": {"split": "test"}}}))
    return root


DAMAGED_DATASET_FILES = {
    "truncated scene": ("scenes/000000.npz", lambda data: data[: len(data) // 2]),
    "garbage scene": ("scenes/000000.npz", lambda data: b"garbage\x00\xff"),
    "garbage metadata": ("dataset.json", lambda data: b"{garbage"),
    "truncated metadata": ("dataset.json", lambda data: data[: len(data) // 2]),
    "garbage index": ("index.csv", lambda data: b"\x00garbage\n1,2\n"),
    "truncated index": ("index.csv", lambda data: data[:30]),
}


@pytest.mark.parametrize("case", sorted(DAMAGED_DATASET_FILES))
def test_a_damaged_dataset_file_names_it(dataset, capsys, case):
    from graspbench.planners.dataset import GraspDataset

    name, damage = DAMAGED_DATASET_FILES[case]
    path = dataset / name
    path.write_bytes(damage(path.read_bytes()))
    assert main(["dataset", "info", str(dataset)]) == 2
    assert str(path) in _error_line(capsys)
    with pytest.raises(ValueError, match=str(path)):
        GraspDataset(dataset)[0]


def test_an_intact_dataset_reads(dataset):
    assert main(["dataset", "info", str(dataset)]) == 0  # so the failures above are the damage's


def test_library_readers_name_the_file(tmp_path, damaged_agent):
    """The same errors from the library, not only from the command line."""
    from graspbench.envs import make_env
    from graspbench.planners.train import load_checkpoint

    spec = tmp_path / "env.yaml"
    spec.write_text("scene: {kind: [unclosed\n")
    with pytest.raises(FileFormatError, match=f"{spec} is not an environment spec"):
        make_env(str(spec))
    damaged_agent("garbage")
    with pytest.raises(FileFormatError, match=r"mine\.pt is not a graspbench checkpoint"):
        load_checkpoint(tmp_path / "weights" / "mine.pt")
