"""Pool-based active learning with the simulator as the annotator (Wei et al., DAL; docs/active_learning.md).

A pool of rendered scenes (images only, no grasp trial spent) waits to be labelled. Each round a
strategy picks ``k`` of them, graspbench's own labeller annotates exactly those scenes by executing
grasps (so a label costs grasp trials and core-seconds, counted per round), and a GG-CNN is
retrained on everything labelled so far and scored on a held-out labelled test set of unseen
objects.

* :mod:`.pool`: the pool, the test set, annotation and its cost;
* :mod:`.networks`: the shared encoder's features, DAL's discriminator, Learning Loss's loss
  predictor, VAAL's VAE and adversary;
* :mod:`.training`: one round's training (plain GG-CNN, DAL's joint loss, Learning Loss) and its
  evaluation;
* :mod:`.strategies`: the selection rules (random, Core-set, Graph Density, Gissin's
  discriminative AL, VAAL, Learning Loss, DAL);
* :mod:`.args`: the presets and the arguments (also the command's flags);
* :mod:`.loop`: the resumable loop;
* :mod:`.curves`: the learning curves' metrics, intervals, areas and plot (the loop's and the report's);
* :mod:`.report`: results/active_learning.*; :mod:`.cli`: ``graspbench active-learn``.

Rows record the active experiment's code version (:func:`graspbench.versions.experiment_version`):
only the code that evaluates a round, so an edit elsewhere marks no row stale.
"""

COMMAND_HELP = {
    "active-learn": "pool-based active learning with the simulator as the annotator (DAL)",
    "active-report": "issue 12's active-learning results (AUC, claims table) into results/",
}
"""the ``graspbench`` commands of this room and their one-line help, listed without importing it"""
