"""Target picking from dense bins with interactive visual failure prediction (IVFP, Murray et al.).

One job a module:

* ``picks``: the on-disk store of probed picks; ``demonstrator``: the scripted operator that plays
  the paper's human demonstrations and ``graspbench ivfp collect``;
* ``classifier``: the probe-video classifier C_phi; ``table3``: Table III (passive against
  interactive perception);
* ``policy``: the grasp policy (Q_width, Q_grasp): preprocessing, the network, its checkpoints;
  ``imitation``: its training from the demonstrations;
* ``bandit``: the contextual bandit REINFORCE learns from (rewards, environments, collecting
  grasps in workers); ``reinforce``: the algorithm (the update); ``reinforce_run``: a run of it
  (iterations, their files, resuming, the learning curve);
* ``vitl``: verification in the loop; ``agents``: Centroid, Random, clear-grasp and the policy as
  agents; ``table1``, ``table2``: Tables I and II;
* ``runs``: whether a run may resume, and the checkpoint writer; ``cli``: every ``graspbench ivfp``
  command's arguments.

The probe and the wrist camera are simulation: ``graspbench/sim/probe.py``.
"""

COMMAND_HELP = {"ivfp": "target picking with interactive visual failure prediction (IVFP)"}
"""the ``graspbench`` commands of this room and their one-line help, listed without importing it"""
