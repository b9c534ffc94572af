# The two commands of the README. Each sets up what it needs, idempotently:
# the system library open3d needs, a virtual environment in .venv, torch (CPU) and graspbench.

VENV  := .venv
STAMP := $(VENV)/.installed
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: benchmark test setup datasets agents ivfp ivfp-policy ivfp-pile active-learning
benchmark: $(STAMP)
	$(VENV)/bin/graspbench benchmark --out runs/benchmark

test: $(STAMP)
	$(VENV)/bin/ruff check graspbench tests
	$(VENV)/bin/ruff format --check graspbench tests
	$(VENV)/bin/python -m pytest

setup: $(STAMP)

# The datasets the planners train on (docs/datasets.md): 10,000 scenes of train objects as varied as
# a lab's (--vary: procedural shapes mixed in, each object's scale, friction and mass drawn; issue 26),
# and validation scenes of test objects seeded away from the benchmark's episodes (seeds 0-99).
# Every dataset grows in rounds, so an interrupted run leaves a mix of all four kinds; each command
# resumes where an interrupted one stopped. WORKERS=1 leaves a core free.
DATA     := data
WORKERS  ?= 2
VAL_SEED := 100000
GENERATE  = $(VENV)/bin/graspbench generate --workers $(WORKERS)
datasets: $(STAMP)
	$(GENERATE) --env GraspBench/Single-v0  --split test --seed $(VAL_SEED) --candidates-per-object 16 --scenes 100 --out $(DATA)/single-val
	$(GENERATE) --env GraspBench/Pile-v0    --split test --seed $(VAL_SEED) --scenes 100 --out $(DATA)/pile-val
	$(GENERATE) --env GraspBench/Packed-v0  --split test --seed $(VAL_SEED) --scenes 100 --out $(DATA)/packed-val
	$(GENERATE) --env GraspBench/Stacked-v0 --split test --seed $(VAL_SEED) --scenes 100 --out $(DATA)/stacked-val
	for fraction in 1 2 4; do \
	  $(GENERATE) --env GraspBench/Single-v0  --seed 0 --candidates-per-object 16 --vary --scenes $$((3000 * fraction / 4)) --out $(DATA)/single-train && \
	  $(GENERATE) --env GraspBench/Pile-v0    --seed 0 --vary --scenes $$((3000 * fraction / 4)) --out $(DATA)/pile-train && \
	  $(GENERATE) --env GraspBench/Packed-v0  --seed 0 --vary --scenes $$((2000 * fraction / 4)) --out $(DATA)/packed-train && \
	  $(GENERATE) --env GraspBench/Stacked-v0 --seed 0 --vary --scenes $$((2000 * fraction / 4)) --out $(DATA)/stacked-train || exit 1; \
	done

$(STAMP): pyproject.toml
	@ldconfig -p | grep -q libusb-1.0.so.0 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq libusb-1.0-0; }
	[ -x $(VENV)/bin/python ] || python3 -m venv $(VENV)
	# torch first, pinned to the CPU build, so that nothing pulls a GPU build in.
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -e ".[test]"
	touch $(STAMP)

# The weights of the shipped network agents, trained on the datasets above (agents/README.md).
agents: datasets
	$(VENV)/bin/graspbench train-agents

# IVFP part 1 (docs/ivfp.md), on BinPick-v1: the scripted agents' calibration of the bin, then
# demonstrations with seen (train) and unseen (test) objects, probes released instead of extracted
# (reversibility), then Table III into results/. About an hour and a half on 2 cores; every step resumes.
COLLECT = $(VENV)/bin/graspbench ivfp collect --aim clear --workers $(WORKERS) --quiet
ivfp: $(STAMP)
	$(VENV)/bin/graspbench ivfp calibrate --workers $(WORKERS) --out results/ivfp_calibration.csv
	$(COLLECT) --bins 400 --split train --seed 0 --out $(DATA)/ivfp-seen
	$(COLLECT) --bins 80 --split test --seed 100000 --out $(DATA)/ivfp-unseen
	$(COLLECT) --bins 20 --split test --seed 200000 --after-probe release --out $(DATA)/ivfp-release
	$(COLLECT) --bins 20 --split test --seed 200000 --after-probe release --out $(DATA)/ivfp-release-pull-sideways --env docs/examples/binpick_v1_pull_sideways.yaml
	$(COLLECT) --bins 30 --split test --seed 300000 --out $(DATA)/ivfp-probe-truth
	$(VENV)/bin/graspbench ivfp summary $(DATA)/ivfp-seen $(DATA)/ivfp-unseen $(DATA)/ivfp-release $(DATA)/ivfp-release-pull-sideways \
	  $(DATA)/ivfp-probe-truth --out results/ivfp_collections.csv
	$(VENV)/bin/graspbench perf demonstrations --bins 3 --json results/perf_demonstrations.json
	$(VENV)/bin/graspbench ivfp table3 --seen $(DATA)/ivfp-seen --unseen $(DATA)/ivfp-unseen --out results

# IVFP part 2 (docs/ivfp.md): the policy by imitation of the demonstrator, REINFORCE with the
# interactive 2.0 s classifier as the reward, the agents' weights, then Tables I and II into
# results/. About 4 hours on 2 cores after `make ivfp`; every step resumes.
IVFP = $(VENV)/bin/graspbench ivfp
ivfp-policy: ivfp
	$(IVFP) train-policy --data $(DATA)/ivfp-seen --out runs/ivfp_policy
	cp runs/ivfp_policy/best.pt agents/weights/ivfp-il.pt
	cp runs/ivfp_classifier/interactive-2.0s.pt agents/weights/ivfp-classifier.pt
	# The learner's ceiling first: the simulator's truth as the reward (issue 27).
	$(IVFP) reinforce --init agents/weights/ivfp-il.pt --out runs/ivfp_rl_truth --reward truth \
	  --iterations 50 --workers $(WORKERS) --quiet
	cp runs/ivfp_rl_truth/policy_iter_050.pt agents/weights/ivfp-rl-truth50.pt
	$(IVFP) reinforce --init agents/weights/ivfp-il.pt --out runs/ivfp_rl --reward classifier:agents/weights/ivfp-classifier.pt \
	  --iterations 50 --workers $(WORKERS) --quiet
	cp runs/ivfp_rl/policy_iter_020.pt agents/weights/ivfp-rl20.pt
	cp runs/ivfp_rl/policy_iter_050.pt agents/weights/ivfp-rl50.pt
	$(IVFP) reinforce --init agents/weights/ivfp-il.pt --out runs/ivfp_rl_free --free-space \
	  --reward classifier:agents/weights/ivfp-classifier.pt --iterations 20 --keep 20 --workers $(WORKERS) --quiet
	cp runs/ivfp_rl_free/policy_iter_020.pt agents/weights/ivfp-rl-free20.pt
	$(IVFP) table1 --workers $(WORKERS) --quiet
	$(VENV)/bin/graspbench perf policies --quiet --json results/perf_policies.json
	$(IVFP) table2 --bins 20 --workers $(WORKERS) --quiet

# IVFP's learner on a second bandit (docs/ivfp.md): Pile-v0, where the grasp decides the outcome,
# from an untrained policy with the truth as the reward. About half an hour on one core.
ivfp-pile: $(STAMP)
	$(IVFP) reinforce --env graspbench.ivfp.clutter_bandit:pile --init untrained --reward truth \
	  --iterations 30 --keep 10,30 --workers $(WORKERS) --out runs/ivfp_rl_pile --quiet

# Issue 12 (docs/active_learning.md): the Cornell-like experiments, every strategy x 5 trials, DAL's
# "same data" check, a GG-CNN on the whole pool and the noisy annotator, then their report into
# results/active_learning.*. About 8 hours on 2 cores; every step resumes round by round.
ACTIVE = $(VENV)/bin/graspbench active-learn --preset cornell --trials 5 --workers $(WORKERS) --quiet
active-learning: $(STAMP)
	$(ACTIVE) --strategy all --out runs/active-cornell
	$(ACTIVE) --strategy dal --same-data-round 6 --out runs/active-cornell
	$(ACTIVE) --strategy random --initial 708 --rounds 0 --out runs/active-cornell-wholepool
	$(ACTIVE) --strategy random,dal --label-noise-deg 45 --out runs/active-cornell-noisy
	# Rounds that older code evaluated (a fix to the simulator since they ran) are measured again.
	for run in runs/active-cornell runs/active-cornell-wholepool runs/active-cornell-noisy; do \
	  $(VENV)/bin/graspbench active-learn --reevaluate --workers $(WORKERS) --quiet --out $$run || exit 1; done
	$(VENV)/bin/graspbench active-report runs/active-cornell --whole-pool runs/active-cornell-wholepool \
	  --noisy runs/active-cornell-noisy --out results
