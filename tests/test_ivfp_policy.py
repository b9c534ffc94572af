"""The IVFP policy (Q_width, Q_grasp), its imitation, REINFORCE and verification in the loop, on
hand-computed examples, toy bandits without physics and tiny synthetic collections; one test
checks BinPickEnv's ``verify`` on a hand-built bin."""

import dataclasses
import functools
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from graspbench.agents.picking import CentroidAgent, RandomMaskAgent
from graspbench.cli import main
from graspbench.envs import BinPickEnv
from graspbench.envs.spec import load_spec
from graspbench.grasp import Grasp
from graspbench.io import save_checkpoint
from graspbench.ivfp import bandit
from graspbench.ivfp import imitation as il
from graspbench.ivfp import policy as pol
from graspbench.ivfp import reinforce as rl
from graspbench.ivfp import reinforce_run as rlrun
from graspbench.ivfp.agents import PolicyAgent
from graspbench.ivfp.clutter_bandit import pile
from graspbench.ivfp.picks import write_bin, write_index, write_metadata
from graspbench.ivfp.vitl import REJECTED, VitlSettings, vitl_candidates, vitl_pick
from graspbench.sim.camera import Camera
from graspbench.sim.scenes import SceneRecord

TINY_NET = {"base_channels": 8, "fpn_channels": 8, "width_embedding": 4}
TOY_WIDTHS_M = (0.02, 0.04, 0.06)
TOY_PX = 32
GOOD_WIDTH = 1  # the toy bandit's best arm: this width, on the left half of the image


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one thread is fastest, and the numbers do not depend on the machine's cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_policy(seed=0, widths_m=TOY_WIDTHS_M):
    torch.manual_seed(seed)
    return pol.GraspPolicy(widths_m, downsample=2, **TINY_NET).eval()


# --- distributions over actions, by hand ---------------------------------------------------------


def test_masked_log_probability_on_a_hand_computed_example():
    logits = torch.tensor([[[0.0, math.log(2)], [math.log(3), 5.0]]], requires_grad=True)
    valid = torch.tensor([[[True, True], [True, False]]])
    log_p = pol.masked_log_softmax(logits, valid)
    # exp(logits) of the valid cells are 1, 2, 3: probabilities 1/6, 2/6, 3/6; the invalid cell never.
    assert torch.allclose(log_p[0, :3], torch.log(torch.tensor([1 / 6, 2 / 6, 3 / 6])))
    assert log_p[0, 3] == float("-inf")
    width_logits = torch.tensor([[0.0, math.log(3)]])  # pi(w) = 1/4, 3/4
    total = pol.action_log_prob(width_logits, log_p, torch.tensor([1]), torch.tensor([2]))
    assert total.item() == pytest.approx(math.log(3 / 4) + math.log(1 / 2))
    total.sum().backward()  # no NaN through the -inf, and no gradient onto the invalid cell
    assert torch.isfinite(logits.grad).all() and logits.grad[0, 1, 1] == 0
    assert torch.allclose(logits.grad[0].flatten()[:3], torch.tensor([-1 / 6, -2 / 6, 1 - 3 / 6]))
    expected_entropy = -(1 / 6 * math.log(1 / 6) + 2 / 6 * math.log(2 / 6) + 0.5 * math.log(0.5))
    assert pol.entropy(log_p).item() == pytest.approx(expected_entropy)


def test_acting_on_free_space_allows_only_the_clear_actions_where_there_are_any():
    valid = torch.tensor([[[True, True], [True, False]]] * 2)  # two states, three valid cells each
    clear = torch.zeros(2, 3, 2, 2, dtype=torch.bool)  # three widths
    clear[0, 1, 0, 1] = True  # state 0: clear only at width 1, at one valid cell
    clear[0, 2, 1, 1] = True  # ... and at width 2 on an invalid cell, which does not count
    widths, cells = pol.action_masks(valid, clear, 3)
    assert widths[0].tolist() == [False, True, False]
    assert cells[0, 1].tolist() == [[False, True], [False, False]]
    # State 1 has no clear action: every valid one stays allowed, as without the check.
    plain_widths, plain_cells = pol.action_masks(valid, None, 3)
    assert widths[1].all() and torch.equal(cells[1], plain_cells[1]) and plain_widths.all()


def test_clipped_importance_weights_on_a_hand_computed_example():
    log_pi = torch.log(torch.tensor([0.5, 0.2, 0.9]))
    log_mu = torch.log(torch.tensor([0.25, 0.4, 0.01]))
    weights = rl.importance_weights(log_pi, log_mu, max_weight=10.0)
    assert torch.allclose(weights, torch.tensor([2.0, 0.5, 10.0]))  # 0.9 / 0.01 = 90, clipped at c = 10


def test_gaussian_soft_target_and_its_cross_entropy():
    valid = torch.ones(1, 4, 4, dtype=torch.bool)
    valid[0, 0, 0] = False
    q = il.gaussian_targets(torch.tensor([2.5]), torch.tensor([2.5]), valid, downsample=2, sigma_px=1.0)
    # Cells of a 2-px grid have centres 0.5, 2.5, 4.5, 6.5: the point is cell (1, 1)'s centre.
    assert q[0].argmax().item() == 5 and q[0, 0] == 0 and q.sum().item() == pytest.approx(1.0)
    assert q[0, 4].item() == pytest.approx(q[0, 5].item() * math.exp(-4 / 2))  # one cell (2 px) away
    one_hot = torch.zeros(1, 16)
    one_hot[0, 5] = 1
    log_p = pol.masked_log_softmax(torch.zeros(1, 4, 4), valid)
    assert il.soft_cross_entropy(log_p, one_hot).item() == pytest.approx(math.log(15))


def test_cells_map_back_onto_the_target():
    mask = np.zeros((8, 8), bool)
    mask[2:4, 2:4] = True  # cell (1, 1) wholly on the target
    mask[5, 7] = True  # cell (2, 3) touches it at one pixel
    compact = pol.prepare(np.zeros((8, 8, 3), np.uint8), np.full((8, 8), 0.5, np.float32), mask, 2)
    assert compact["valid"].sum() == 1 and compact["valid"][1, 1]  # only whole blocks, when there is one
    assert pol.cell_to_pixel(5, mask, 2) == (2.5, 2.5)
    assert pol.cell_to_pixel(2 * 4 + 3, mask, 2) == (7.0, 5.0)
    thin = np.zeros((8, 8), bool)
    thin[3, 1:7] = True  # a one-pixel line: no whole block, every touched block is valid
    assert pol.prepare(np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), np.float32), thin, 2)["valid"].sum() == 4
    with pytest.raises(ValueError, match="target_mask is empty"):
        pol.prepare(np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), np.float32), np.zeros((8, 8), bool), 2)


# --- a toy bandit: no physics ------------------------------------------------------------------


class ToyBin:
    """The bandit interface of BinPick without physics: a 16 x 16 image whose target is the whole
    image; a grasp succeeds when it is on the left half at width GOOD_WIDTH. A verified grasp
    (``verify`` says yes) is extracted; a rejected one is released and the target kept."""

    def __init__(self):
        self.bench_spec = SimpleNamespace(pick=SimpleNamespace(widths_m=TOY_WIDTHS_M))
        self.rng = np.random.default_rng(0)
        self.executed = []

    def _observation(self):
        return {
            "rgb": self.rng.integers(0, 255, (TOY_PX, TOY_PX, 3), dtype=np.uint8),
            "depth": np.full((TOY_PX, TOY_PX), 0.5, np.float32),
            "target_mask": np.ones((TOY_PX, TOY_PX), np.uint8),
        }

    def reset(self, seed=None, options=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        return self._observation(), {}

    def width_to_opening_px(self, width_m, u, v):
        return width_m * 100

    def step_grasp(self, grasp, verify=None):
        self.executed.append(grasp)
        width_index = int(np.argmin(np.abs(np.array(TOY_WIDTHS_M) - grasp.opening_px / 100)))
        film = np.zeros((3, 8, 8, 3), np.uint8)
        verdict = None if verify is None else bool(verify(film))
        if verdict is False:
            outcome = "released"
        else:
            outcome = "success" if grasp.u < TOY_PX / 2 and width_index == GOOD_WIDTH else "fail_not_picked"
        info = {
            "outcome": outcome,
            "probed": True,
            "probe_rgb": film,
            "sim_time_s": 3.0,
            "verdict": verdict,
            "width_index": width_index,
        }
        return self._observation(), float(outcome == "success"), verdict is not False, False, info


def toy_bin():
    return ToyBin()


def always_success(info):
    """A reward that is wrong whenever the grasp failed."""
    return 1.0


def _good_probability(policy, observation):
    """pi(the best arm) = pi(GOOD_WIDTH) * pi(left half | GOOD_WIDTH)."""
    width_log_probs, cell_log_probs = policy.action_maps(policy.prepare(observation), [GOOD_WIDTH])
    cells = np.exp(cell_log_probs[0]).reshape(TOY_PX // 2, TOY_PX // 2)
    return math.exp(width_log_probs[GOOD_WIDTH]) * cells[:, : TOY_PX // 4].sum()


def _toy_grasps(policy, env, count=64, seed=0, grid=1):
    """Grasps drawn by the policy itself in the toy bin (its first observation), rewarded +1 / -1."""
    observation, _ = env.reset(seed=1)
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        compact = policy.prepare(observation)
        action = bandit.sample_action(policy, observation, compact, rng, grid=grid)
        grasp = Grasp(
            action.u, action.v, 0.0, env.width_to_opening_px(TOY_WIDTHS_M[action.width_index], action.u, action.v)
        )
        outcome = env.step_grasp(grasp)[4]["outcome"]
        rows.append(
            {
                **compact,
                "width_index": action.width_index,
                "cell": action.cell,
                "log_mu": action.log_prob,
                "reward": 1.0 if outcome == "success" else -1.0,
            }
        )
    return observation, {key: np.array([row[key] for row in rows]) for key in rows[0]}


@pytest.mark.parametrize("options", [{}, {"state_value": True}, {"trust_region": "kl"}, {"grid": 4}])
def test_the_reinforce_update_moves_the_policy_towards_the_best_arm(options):
    policy, env = tiny_policy(), ToyBin()
    settings = rl.UpdateOptions(**{"passes": 4, "batch_size": 16, **options})
    observation, new = _toy_grasps(policy, env, grid=settings.grid)
    assert 0 < (new["reward"] > 0).sum() < len(new["reward"])
    # The behaviour probabilities stored at collection are the policy's own: every ratio is 1 before the update.
    with torch.no_grad():
        log_pi, _, _ = rl.stored_log_probs(policy, new, settings.grid)
    assert np.allclose(log_pi.numpy(), new["log_mu"], atol=1e-4)
    before = _good_probability(policy, observation)
    state_value = rl.StateValue(policy.state_features) if settings.state_value else None
    optimiser = torch.optim.Adam(policy.parameters(), lr=3e-3)
    if state_value is not None:
        optimiser.add_param_group({"params": state_value.parameters(), "lr": 1e-2})
    older = {key: value.copy() for key, value in new.items()}
    older["age"] = np.ones(len(new["reward"]), np.int64)
    stats = rl.reinforce_update(
        policy, optimiser, new, settings, older, torch.Generator().manual_seed(0), state_value, kl_coef=0.2
    )
    assert stats["steps"] == 16 and stats["kl"] > 0 and stats["weight"] > 0
    assert _good_probability(policy, observation) > 1.5 * before


class CountingAdam(torch.optim.Adam):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


def test_the_update_takes_steps_in_proportion_to_the_new_data_not_to_everything_gathered():
    policy, env = tiny_policy(), ToyBin()
    _, new = _toy_grasps(policy, env, count=40)
    settings = rl.UpdateOptions(passes=3, batch_size=16, replay_size=8)
    assert rl.update_steps(40, settings) == 3 * 3 == rl.update_steps(33, settings)
    for replayed in (0, 40, 400):  # whatever was gathered before: the same number of steps
        optimiser = CountingAdam(tiny_policy().parameters(), lr=1e-3)
        older = None
        if replayed:
            rows = np.arange(replayed) % 40
            older = {key: value[rows] for key, value in new.items()}
            older["age"] = 1 + np.arange(replayed) // 40  # ten iterations of 40 grasps, the oldest 10 old
        stats = rl.reinforce_update(tiny_policy(), optimiser, new, settings, older, torch.Generator().manual_seed(0))
        assert optimiser.steps == stats["steps"] == 9


def test_the_trust_region_on_hand_computed_examples():
    ratio = torch.tensor([1.5, 1.5, 0.5, 0.5, 1.1, 0.9])
    advantage = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    # PPO's clipped surrogate stops pushing a ratio already beyond 1 +- eps further the same way.
    assert rl.inside_trust_region(ratio, advantage, 0.2).tolist() == [False, True, True, False, True, True]
    # KL(mu || pi) from mu's samples: mean of (r - 1) - log r; r = 2 and 1/2: (1 - log 2 + (-1/2) + log 2) / 2.
    log_mu = torch.log(torch.tensor([0.2, 0.4]))
    log_pi = torch.log(torch.tensor([0.4, 0.2]))
    assert rl.kl_to_behaviour(log_pi, log_mu).item() == pytest.approx(0.25)
    assert rl.kl_to_behaviour(log_mu, log_mu).item() == 0
    assert rl.adapt_kl_coef(0.2, 0.1, 0.01) == 0.4 and rl.adapt_kl_coef(0.2, 0.001, 0.01) == 0.1
    assert rl.adapt_kl_coef(0.2, 0.01, 0.01) == 0.2
    # Every grasp beyond the region the way its advantage pushes: no gradient at all (entropy bonus off).
    policy, env = tiny_policy(), ToyBin()
    _, grasps = _toy_grasps(policy, env, count=8)
    grasps["log_mu"] = grasps["log_mu"] - np.where(grasps["reward"] > 0, 1.0, -1.0)  # ratio e or 1/e
    settings = rl.UpdateOptions(entropy_weight=0.0, max_weight=2.0)
    loss, stats = rl.reinforce_loss(policy, grasps, 0.0, settings)
    loss.backward()
    assert stats["clipped"] == 1.0 and all(p.grad is None or not p.grad.any() for p in policy.parameters())
    # The capped weight min(r, c) is held constant: its share at the cap is reported.
    assert stats["capped"] == pytest.approx((grasps["reward"] > 0).mean())
    # With the KL penalty instead, the same grasps do move the policy.
    policy.zero_grad()
    loss, _ = rl.reinforce_loss(policy, grasps, 0.0, dataclasses.replace(settings, trust_region="kl"), kl_coef=0.2)
    loss.backward()
    assert any(p.grad is not None and p.grad.any() for p in policy.parameters())


def test_the_entropy_bonus_raises_the_entropy():
    policy, env = tiny_policy(), ToyBin()
    _, grasps = _toy_grasps(policy, env, count=16)
    grasps["reward"][:] = 1.0  # every advantage 0 against the mean-reward baseline: only the bonus acts
    with torch.no_grad():
        before = rl.stored_log_probs(policy, grasps)[1].mean().item()
    for weight, sign in ((0.1, 1), (-0.1, -1)):  # a negative weight (not allowed by check) lowers it
        moved = tiny_policy()
        optimiser = torch.optim.Adam(moved.parameters(), lr=1e-2)
        rl.reinforce_update(
            moved,
            optimiser,
            grasps,
            rl.UpdateOptions(entropy_weight=weight, passes=3),
            generator=torch.Generator().manual_seed(0),
        )
        with torch.no_grad():
            after = rl.stored_log_probs(moved, grasps)[1].mean().item()
        assert sign * (after - before) > 0.01


def _init_checkpoint(path):
    save_checkpoint(path, pol.policy_payload(tiny_policy()))
    return str(path)


def _toy_args_with(tmp_path, out, **changes):
    return _toy_args(tmp_path, out, **changes)


def _toy_args(tmp_path, out, **changes):
    args = {
        "init": str(tmp_path / "init.pt"),
        "out": str(tmp_path / out),
        "env": f"{__name__}:toy_bin",
        "split": None,
        "reward": "truth",
        "iterations": 3,
        "grasps_per_iteration": 12,
        "grasps_per_bin": 8,
        "passes": 2,
        "batch_size": 8,
        "lr": 1e-3,
        "keep": (2,),
        "executor": "serial",
        "threads": 1,
        "progress": False,
    }
    return rlrun.ReinforceArgs(**{**args, **changes})


@pytest.mark.parametrize("options", [{}, {"trust_region": "kl", "grid": 4, "replay_size": 4, "state_value": True}])
def test_reinforce_resumes_where_it_stopped_and_matches_an_uninterrupted_run(tmp_path, options):
    _init_checkpoint(tmp_path / "init.pt")
    _toy_args = functools.partial(_toy_args_with, **options)
    whole = rlrun.reinforce(_toy_args(tmp_path, "whole"))
    assert [row["iteration"] for row in whole] == [1, 2, 3] and whole[-1]["grasps"] == 36
    assert all(row["reward_error_rate"] == 0 for row in whole)  # truth rewards
    run = tmp_path / "parts"
    rlrun.reinforce(_toy_args(tmp_path, "parts", iterations=1))
    after_one = (run / "last.pt").read_bytes()
    rlrun.reinforce(_toy_args(tmp_path, "parts", iterations=2))
    # Interrupted after iteration 2's grasps were stored, before its update was saved:
    (run / "last.pt").write_bytes(after_one)
    rlrun.reinforce(_toy_args(tmp_path, "parts", iterations=3))
    final = {name: torch.load(tmp_path / name / "last.pt", weights_only=False) for name in ("whole", "parts")}
    for key, value in final["whole"]["state_dict"].items():
        assert torch.equal(value, final["parts"]["state_dict"][key]), key
    curves = [pd.read_csv(tmp_path / name / "learning_curve.csv") for name in ("whole", "parts")]
    columns = [
        "iteration",
        "grasps",
        "mean_reward",
        "true_success_rate",
        "loss",
        "mean_weight",
        "clipped_share",
        "kl",
        "kl_coef",
        "entropy",
        "steps",
    ]
    pd.testing.assert_frame_equal(curves[0][columns], curves[1][columns])
    assert (curves[0]["steps"] == 2 * 2).all()  # 2 passes over 12 new grasps in batches of 8, every iteration
    assert (run / "policy_iter_002.pt").exists() and (run / "learning_curve.png").exists()
    assert isinstance(pol.load_policy(run / "policy_iter_002.pt"), pol.GraspPolicy)
    with pytest.raises(ValueError, match="other arguments"):
        rlrun.reinforce(_toy_args(tmp_path, "parts", lr=0.5))


def test_a_users_reward_function_and_its_error_rate(tmp_path):
    _init_checkpoint(tmp_path / "init.pt")
    [row] = rlrun.reinforce(_toy_args(tmp_path, "lying", iterations=1, reward=f"{__name__}:always_success"))
    assert row["mean_reward"] == 1.0 and row["reward_error_rate"] == pytest.approx(1 - row["true_success_rate"])
    with pytest.raises(ValueError, match="--reward"):
        rlrun.reinforce(_toy_args(tmp_path, "bad", reward="nonsense"))
    with pytest.raises(ValueError, match="--env"):
        rlrun.reinforce(_toy_args(tmp_path, "bad", env="no/such-env"))


def raises(info):
    raise KeyError("outcome")


def half(info):
    return 0.5


class NotABandit:
    def reset(self, seed=None):
        return {}, {}


def not_a_bandit():
    return NotABandit()


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"reward": f"{__name__}:raises"},
            rf"--reward {__name__}:raises raised KeyError: 'outcome'; it must be a function "
            r"of the step's info dict returning \+1 \(success\) or -1 \(failure\)",
        ),
        (
            {"reward": f"{__name__}:half"},
            rf"--reward {__name__}:half returned 0.5; it must be a function of the step's info",
        ),
        (
            {"reward": "no_such_module:reward"},
            r"--reward no_such_module:reward: cannot import it \(ModuleNotFoundError: .*\); "
            r"it must be a function of the step's info dict returning \+1",
        ),
        ({"reward": f"{__name__}:TOY_PX"}, rf"--reward {__name__}:TOY_PX: int is not callable; it must be a function"),
        (
            {"env": f"{__name__}:not_a_bandit"},
            rf"--env {__name__}:not_a_bandit: NotABandit has no step_grasp, "
            r"width_to_opening_px, bench_spec.pick.widths_m; a bandit environment must "
            r"provide reset\(seed=None\)",
        ),
    ],
)
def test_bad_plugins_get_one_line_errors_naming_them(tmp_path, changes, message):
    _init_checkpoint(tmp_path / "init.pt")
    with pytest.raises(bandit.PluginError, match=message) as caught:
        rlrun.reinforce(_toy_args(tmp_path, "bad", iterations=1, **changes))
    assert "\n" not in str(caught.value)


def test_a_bad_plugin_from_the_command_line_and_in_worker_processes(tmp_path, capsys):
    _init_checkpoint(tmp_path / "init.pt")
    assert (
        main(
            [
                "ivfp",
                "reinforce",
                "--init",
                str(tmp_path / "init.pt"),
                "--out",
                str(tmp_path / "cli"),
                "--env",
                f"{__name__}:toy_bin",
                "--reward",
                f"{__name__}:half",
                "--iterations",
                "1",
                "--grasps-per-iteration",
                "4",
                "--grasps-per-bin",
                "2",
                "--workers",
                "2",
                "--quiet",
            ]
        )
        == 2
    )
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and f"--reward {__name__}:half returned 0.5; it must be" in error


@pytest.mark.parametrize("free_space", [False, True])
def test_reinforce_on_binpick_with_the_simulators_truth(tmp_path, free_space):
    """The real environment end to end: one iteration of two grasps in one bin, truth rewards;
    acting on free space, the grasps land on clear cells wherever the target has one."""
    widths_m = load_spec("envs/binpick.yaml").pick.widths_m
    save_checkpoint(tmp_path / "init.pt", pol.policy_payload(tiny_policy(widths_m=widths_m)))
    args = _toy_args(
        tmp_path,
        "binpick",
        env="GraspBench/BinPick-v0",
        split="train",
        iterations=1,
        grasps_per_iteration=2,
        grasps_per_bin=2,
        passes=1,
        batch_size=2,
        free_space=free_space,
    )
    [row] = rlrun.reinforce(args)
    grasps = rlrun._read_experience(tmp_path / "binpick" / "experience" / "iter_001.npz")
    assert row["grasps"] == 2 and row["reward_error_rate"] == 0
    assert set(grasps["outcome"]) <= {"success", "fail_multipick", "fail_not_picked", "collision"}
    assert np.array_equal(grasps["reward"] > 0, grasps["outcome"] == "success")
    assert (grasps["log_mu"] < 0).all() and grasps["valid"].shape == (2, 112, 112)
    assert ("clear" in grasps) == free_space
    if free_space:
        clear_valid = grasps["clear"] & grasps["valid"][:, None]
        for k in range(2):
            if clear_valid[k].any():
                assert clear_valid[k, grasps["width_index"][k]].flat[grasps["cell"][k]]
    # The stored cell, re-scored by the policy that chose it, has the stored probability mu.
    with torch.no_grad():
        log_pi, _, _ = rl.stored_log_probs(tiny_policy(widths_m=widths_m), grasps)
    assert np.allclose(log_pi.numpy(), grasps["log_mu"], atol=1e-4)
    if not free_space:  # the imitation's scoring agrees where nothing is ruled out
        x, valid = pol.to_tensors(grasps)
        with torch.no_grad():
            plain = tiny_policy(widths_m=widths_m).log_prob(
                x, valid, torch.as_tensor(grasps["width_index"]), torch.as_tensor(grasps["cell"])
            )
        assert torch.allclose(plain, log_pi, atol=1e-5)


# --- verification in the loop ------------------------------------------------------------------


class ScriptedClassifier:
    """Says P(success) from a script, one value per film."""

    def __init__(self, p_success):
        self.p_success = list(p_success)

    def predict_proba(self, probe_rgb):
        p = self.p_success.pop(0)
        return np.array([[p, (1 - p) / 2, (1 - p) / 2]])


def test_vitl_tries_candidates_most_likely_first_until_one_is_verified():
    policy, env = tiny_policy(), ToyBin()
    observation, _ = env.reset(seed=2)
    settings = VitlSettings(widths=2, candidates=4, min_separation_px=5.0)
    candidates = vitl_candidates(policy, observation, settings)
    assert len(candidates) == 4 and len({c.width_index for c in candidates}) <= 2
    assert [c.log_prob for c in candidates] == sorted((c.log_prob for c in candidates), reverse=True)
    for i, a in enumerate(candidates):
        for b in candidates[:i]:
            assert a.width_index != b.width_index or np.hypot(a.u - b.u, a.v - b.v) >= 5.0

    pick = vitl_pick(env, policy, ScriptedClassifier([0.1, 0.3, 0.9]), observation, settings)
    assert [(a["u"], a["v"], a["width_m"]) for a in pick.attempts] == [
        (c.u, c.v, TOY_WIDTHS_M[c.width_index]) for c in candidates[:3]
    ]
    assert [a["verdict"] for a in pick.attempts] == [False, False, True]
    assert [a["p_success"] for a in pick.attempts] == [0.1, 0.3, 0.9]
    assert pick.outcome == pick.attempts[-1]["outcome"] != "released"
    assert pick.sim_time_s == pytest.approx(9.0)  # every attempt's motions count

    env.executed.clear()
    rejected = vitl_pick(env, policy, ScriptedClassifier([0.2] * 4), observation, settings)
    assert rejected.outcome == REJECTED and len(rejected.attempts) == len(env.executed) == 4


def test_binpick_verify_releases_keeps_the_target_then_extracts(box):
    env = BinPickEnv("envs/binpick.yaml")
    target, neighbour = box([0.04, 0.04, 0.04]), box([0.04, 0.04, 0.03], "other")
    record = SceneRecord(
        "bin", (target, neighbour), np.array([[0.0, 0.0, 0.021], [0.0, 0.06, 0.016]]), np.array([[0, 0, 0, 1.0]] * 2)
    )
    _, start = env.set_bin(record, 0)
    u, v, _ = env.camera.world_to_pixel([0.0, 0.0, 0.0])
    grasp = Grasp(float(u), float(v), 0.0, env.width_to_opening_px(0.06, float(u), float(v)))
    observation, reward, terminated, _, info = env.step_grasp(grasp, verify=lambda film: False)
    assert info["outcome"] == "released" and info["verdict"] is False and not terminated and reward == 0
    assert info["objects_left"] == 2 and info["motion_s"]["release"] > 0 and info["others_moved_m"] is not None
    assert observation["target_mask"].any() and env.target == start["target_id"]
    films = []
    observation, reward, terminated, _, info = env.step_grasp(grasp, verify=lambda film: films.append(film) or True)
    assert info["outcome"] == "success" and info["verdict"] is True and terminated and reward == 1.0
    assert films[0].shape == info["probe_rgb"].shape
    env.close()


# --- imitation on a tiny synthetic collection ----------------------------------------------------

SYNTH_PX = 32


def _synthetic_collection(root, bins=6, picks=6, seed=0):
    """Squares on a noisy floor; the demonstrator grasps a square's centre with a width that
    grows with its size (small: width 0, large: width 2)."""
    rng = np.random.default_rng(seed)
    write_metadata(
        root,
        {
            "env": "synthetic",
            "spec": {"pick": {"widths_m": list(TOY_WIDTHS_M)}},
            "seed": seed,
            "after_probe": "extract",
        },
    )
    for b in range(bins):
        arrays = {key: [] for key in ("rgb", "depth_m", "target_mask", "u", "v", "width_index", "outcome")}
        for k in range(picks):
            size = int(rng.choice([8, 16]))
            top, left = rng.integers(2, SYNTH_PX - size - 2, size=2)
            mask = np.zeros((SYNTH_PX, SYNTH_PX), bool)
            mask[top : top + size, left : left + size] = True
            rgb = rng.integers(0, 80, (SYNTH_PX, SYNTH_PX, 3)).astype(np.uint8)
            rgb[mask] = 200
            depth = np.where(mask, 0.45, 0.5).astype(np.float32)
            arrays["rgb"].append(rgb)
            arrays["depth_m"].append(depth)
            arrays["target_mask"].append(mask)
            arrays["u"].append(left + (size - 1) / 2)
            arrays["v"].append(top + (size - 1) / 2)
            arrays["width_index"].append(0 if size == 8 else 2)
            arrays["outcome"].append("success" if k < picks - 1 else "fail_not_picked")  # failures are not imitated
        arrays = {key: np.array(value) for key, value in arrays.items()}
        write_bin(root, b, {**arrays, "probed": np.ones(picks, bool)})
    write_index(root)
    return str(root)


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    return _synthetic_collection(tmp_path_factory.mktemp("ivfp-policy") / "picks")


def _imitation_args(collection, out, **changes):
    args = {
        "data": collection,
        "out": str(out),
        "epochs": 10,
        "batch_size": 4,
        "lr": 5e-3,
        "val_fraction": 0.34,
        "sigma_px": 2.0,
        "threads": 1,
        "progress": False,
        **TINY_NET,
    }
    return il.PolicyArgs(**{**args, **changes})


def test_imitation_learns_the_demonstrations_and_resumes_exactly(collection, tmp_path, monkeypatch):
    best = il.train_policy(_imitation_args(collection, tmp_path / "whole"))
    history = pd.read_csv(tmp_path / "whole" / "metrics.csv")
    assert len(history) == 10 and history["pixel_loss"].iloc[-1] < 0.9 * history["pixel_loss"].iloc[0]
    # Held-out bins: the greedy point within a pixel of the squares' centres, the width told from their size.
    assert best["val_point_error_px"] <= 1.0 and best["val_width_accuracy"] >= 0.9
    plot = il._plot_imitation

    def interrupted(history, path):  # Ctrl-C after the 4th epoch's files were written
        plot(history, path)
        if len(history) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(il, "_plot_imitation", interrupted)
    with pytest.raises(KeyboardInterrupt):
        il.train_policy(_imitation_args(collection, tmp_path / "parts"))
    monkeypatch.setattr(il, "_plot_imitation", plot)
    il.train_policy(_imitation_args(collection, tmp_path / "parts"))
    states = [torch.load(tmp_path / name / "last.pt", weights_only=False)["state_dict"] for name in ("whole", "parts")]
    assert all(torch.equal(states[0][key], states[1][key]) for key in states[0])
    with pytest.raises(ValueError, match="other arguments"):
        il.train_policy(_imitation_args(collection, tmp_path / "parts", sigma_px=3.0))


def test_train_policy_command_and_agents(collection, tmp_path):
    out = tmp_path / "run"
    assert (
        main(
            [
                "ivfp",
                "train-policy",
                "--data",
                collection,
                "--out",
                str(out),
                "--epochs",
                "1",
                "--base-channels",
                "8",
                "--fpn-channels",
                "8",
                "--threads",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    assert main(["ivfp", "train-policy", "--data", str(tmp_path / "nothing"), "--out", str(out), "--quiet"]) == 2
    camera = Camera.top_down(SYNTH_PX, SYNTH_PX, 0.5, 0.2)
    info = {"intrinsics": camera.intrinsics, "extrinsics": camera.extrinsics}
    mask = np.zeros((SYNTH_PX, SYNTH_PX), np.uint8)
    mask[4:12, 4:12] = 1
    observation = {
        "rgb": np.zeros((SYNTH_PX, SYNTH_PX, 3), np.uint8),
        "depth": np.full((SYNTH_PX, SYNTH_PX), 0.5, np.float32),
        "target_mask": mask,
    }
    for agent in (PolicyAgent(str(out / "best.pt")), PolicyAgent(str(out / "best.pt"), sample=True), RandomMaskAgent()):
        agent.reset(0)
        grasp = agent.act(observation, info)
        assert mask[int(round(grasp.v)), int(round(grasp.u))]
        metres = grasp.opening_px * float(camera.metres_per_pixel(0.5))
        assert min(abs(metres - w) for w in (*TOY_WIDTHS_M, *RandomMaskAgent().widths_m)) < 1e-6
    with pytest.raises(ValueError, match="needs classifier"):
        PolicyAgent(str(out / "best.pt"), vitl=True)


def test_centroid_agent_takes_the_largest_part_and_stays_on_it():
    camera = Camera.top_down(SYNTH_PX, SYNTH_PX, 0.5, 0.2)
    info = {"intrinsics": camera.intrinsics, "extrinsics": camera.extrinsics}
    mask = np.zeros((SYNTH_PX, SYNTH_PX), np.uint8)
    mask[2:5, 2:5] = 1  # a small part
    mask[10:30, 10:30] = 1
    mask[14:30, 14:30] = 0  # the large part is an L: its centroid lies outside it
    observation = {"depth": np.full((SYNTH_PX, SYNTH_PX), 0.5, np.float32), "target_mask": mask}
    grasp = CentroidAgent().act(observation, info)
    assert mask[int(grasp.v), int(grasp.u)] and grasp.u >= 10 and grasp.v >= 10
    assert grasp.opening_px * float(camera.metres_per_pixel(0.5)) == pytest.approx(0.05)


def test_a_pile_is_a_bandit_and_reinforce_starts_untrained_from_the_seed(tmp_path):
    """Pile-v0 as the second bandit: the policy acts on every object's pixels, the pile carries on
    between grasps; ``--init untrained`` draws the same fresh network from the same seed."""
    pile_bandit = pile()
    bandit.check_bandit_env(pile_bandit, "pile")
    observation, _ = pile_bandit.reset(seed=0)
    assert observation["target_mask"].any() and not observation["target_mask"].all()
    v, u = np.argwhere(observation["target_mask"]).mean(axis=0)
    pile_bandit.step_grasp(Grasp(u, v, 0.0, pile_bandit.width_to_opening_px(0.05, u, v)))
    assert pile_bandit.reset()[0] is not observation and pile_bandit.env.attempts == 1  # the same pile, one grasp on
    rows = []
    for out in ("a", "b"):
        args = _toy_args(
            tmp_path,
            out,
            env="graspbench.ivfp.clutter_bandit:pile",
            init="untrained",
            iterations=1,
            grasps_per_iteration=2,
            grasps_per_bin=2,
            passes=1,
            batch_size=2,
        )
        [row] = rlrun.reinforce(args)
        rows.append(row)
    assert rows[0]["loss"] == rows[1]["loss"] and rows[0]["grasps"] == 2
