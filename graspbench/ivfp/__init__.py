"""Target picking from dense bins with interactive visual failure prediction (IVFP, Murray et al.).

``probe``: the lift-and-pull probe filmed by the wrist camera; ``picks``: the on-disk store of
probed picks; ``demonstrator``: the scripted operator that plays the paper's human demonstrations
and ``graspbench ivfp collect``; ``classifier``: the probe-video classifier C_phi and Table III.
"""
