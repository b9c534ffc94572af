"""The network planners (GG-CNN family FCNs, MTG-CNN, GP-Net), all of one kind: a planar FCN that
maps an image to per-pixel grasp maps.

- :mod:`.models`: one file per network family, :func:`~.models.build_model`;
- :mod:`.losses`: the papers' losses; :mod:`.dataset`: the training dataset of maps from labels;
- :mod:`.train`: ``graspbench train`` (its options in :mod:`.train_args`);
- :mod:`.postprocess`: maps to grasps, with the free-space check;
- :mod:`.offline`: the offline metric (rectangle Top-1/Top-5, simulated top-1);
- :mod:`.agent`: a trained network as an agent.
"""
