"""The ablation study that ``dvc repro`` runs: what its notebooks call into.

``params.yaml`` holds the base recipe (data/model/train/eval) and two mappings:

- ``experiments``: name -> overrides of the base sections (``{}`` is the default variant);
  each is trained once into ``runs/<name>/`` and evaluated;
- ``eval_only``: name -> ``{from: <experiment>, eval: {...}, data: {buffer_ratio: ...}}``,
  evaluated on the model of ``from`` with other evaluation settings, never trained.

One module per step, so that a DVC stage depends only on the code it runs:

- ``experiments``: params.yaml -> one Config per experiment; preflight checks (every stage);
- ``training``: the train stage, and the training curves (dvclive);
- ``evaluation``: the evaluate stage, and the per-box CSV it writes;
- ``stats``: bootstrap intervals, the Table-1 layout, the computed findings (report);
- ``plots``: the report's figures and the gallery (report).

The notebooks hold narrative, plots and calls into these; the logic lives here.
"""
