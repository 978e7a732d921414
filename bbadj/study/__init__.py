"""The ablation study that ``dvc repro`` runs: what its notebooks call into. ``params.yaml`` is
read once into ``bbadj.core.params.Params`` (the base recipe and every row resolved to its Config).

One module per step, so that a DVC stage depends only on the code it runs:

- ``stage``: ``bbadj stage``, a stage's notebook run with papermill (the kernel's connection
  encrypted), its output replaced only once complete;
- ``preflight``: the repository root, and the checks every stage makes before it starts;
- ``train_stage``: the train stage, and the training curves it logs (dvclive);
- ``evaluate_stage``: the evaluate stage, the per-box CSV and the metric files it writes;
- ``provenance``: each stage's device, torch version and duration (``run.json``), the report's header.

The report stage's code is ``bbadj/report/``. The notebooks hold narrative, plots and calls into
these; the logic lives here.
"""
