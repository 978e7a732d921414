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
- ``provenance``: each stage's device, torch version and duration (``run.json``), the report's header;
- ``stats``: bootstrap intervals, paired differences against the box interval and the training-seed
  noise, the computed findings (report);
- ``tables``: Table 1, the gains over identity and the summary of every row (report);
- ``by_size``, ``confidence``: the metrics by COCO object size; does the per-edge confidence
  predict the error (report);
- ``plots``: the report's figures and the gallery (report);
- ``papermill_engine``: the papermill engine the stages run with (``--engine bbadj``);
- ``presets``: ``bbadj exp-run``, a preset of ``params/`` as a DVC experiment.

The notebooks hold narrative, plots and calls into these; the logic lives here.
"""
