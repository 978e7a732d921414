"""The ablation study that ``dvc repro`` runs: what its notebooks call into. ``params.yaml`` is
read once into ``bbadj.params.Params`` (the base recipe and every row resolved to its Config).

One module per step, so that a DVC stage depends only on the code it runs:

- ``stage``: ``bbadj stage``, a stage's notebook run with papermill (the kernel's connection
  encrypted), its output replaced only once complete;
- ``preflight``: the repository root, and the checks every stage makes before it starts;
- ``train_stage``: the train stage, and the training curves (dvclive);
- ``evaluate_stage``: the evaluate stage, the per-box CSV and the metric files it writes;
- ``provenance``: each stage's device, torch version and duration (``run.json``), the report's header;
- ``results``: the per-box files read back, per evaluation set;
- ``stats``: intervals, parents, reruns and the training-noise rule that judges a difference;
- ``findings``, ``tables``, ``confidence``, ``by_size``, ``plots``: the report's sentences, tables
  (rounded once), the expected error's analyses, the metrics by object size, the figures;
- ``report``: the report's sections in order, and its outputs;
- ``show``: ``bbadj show``, the runs side by side; ``presets``: ``bbadj exp-run``.

The notebooks hold narrative, plots and calls into these; the logic lives here.
"""
