"""Target picking from dense bins with interactive visual failure prediction (IVFP, Murray et al.).

``picks``: the on-disk store of probed picks; ``demonstrator``: the scripted operator that plays
the paper's human demonstrations and ``graspbench ivfp collect``; ``classifier``: the probe-video
classifier C_phi and Table III; ``policy``: the grasp policy (Q_width, Q_grasp) and its imitation;
``reinforce``: REINFORCE as a contextual bandit with a pluggable reward; ``vitl``: verification in
the loop; ``agents``: Centroid, Random and the policy as agents. The probe and the wrist camera
are simulation: ``graspbench/sim/probe.py``.
"""
