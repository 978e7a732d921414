"""The package's plan, declared once: its layers, bottom to top, and what each kind of stage of the
study runs. Everything that asks "which code" reads it: tests/test_layering.py checks every import
against ``LAYERS``; ``bbadj stage`` runs the notebooks of ``STAGES``; the fingerprint stage digests
the code each stage's entry reaches (``bbadj.fingerprint.code``), and a training checkpoint the code
``TRAINING`` reaches (``bbadj.fingerprint.run``). docs/which-code-trains.md says why.

- ``util``: infrastructure, which knows nothing of boxes or models;
- ``core``: the paper's pieces: ``core/`` (the settings, ``params.yaml`` and its two budgets, the box
  conventions), ``data/`` (COCO, the jitter, crops, batches) and ``model/`` (the model, its decoding
  and checkpoints);
- ``fingerprint``: what a stage and a training run are made of (the normalised code, the four
  fingerprints of a checkpoint);
- ``train``: the loss and the resumable training loop;
- ``snap``: the product, the trained model applied to rough boxes (``bbadj.adjust``, ``bbadj snap``);
  ``widget``: the snap notebook's widget; ``serve``: ``bbadj serve``, a Label Studio ML backend;
- ``scoring``: the metrics, ``evaluate`` and ``detections`` score the product's adjustment
  (``snap.adjust.adjust_boxes``), ``calibration`` fits its err_px to held-out boxes with it, and the
  GrabCut baseline, so they stand above ``snap/``: the product never imports the study's metric loop;
- ``study``: the DVC stages; ``analysis``: what they wrote read back and compared (seeds,
  photographs, intervals, verdicts); ``figures`` and ``report``: the report stage's figures, tables,
  sentences and sections;
- ``options``: ``args.py``, the options ``bbadj`` and ``bbadj bench`` share. It stays a top-level
  module below ``bench/``: in ``cli/`` it would have the benchmarks import the command line that
  runs them;
- ``bench``, then ``cli`` (with ``__main__``).

``bbadj/__init__.py``, the package's face, imports nothing by an import statement (its public names
load on first use), so every module may name it.
"""

from __future__ import annotations

PACKAGE = "bbadj"
# layer -> the modules and folders in it, bottom to top: a module imports none of a higher layer
LAYERS: dict[str, tuple[str, ...]] = {
    "util": ("bbadj.util",),
    "core": ("bbadj.core", "bbadj.data", "bbadj.model"),
    "fingerprint": ("bbadj.fingerprint",),
    "train": ("bbadj.train",),
    "snap": ("bbadj.snap",),
    "widget": ("bbadj.widget",),
    "serve": ("bbadj.serve",),
    "scoring": ("bbadj.scoring",),
    "study": ("bbadj.study",),
    "analysis": ("bbadj.analysis",),
    "figures": ("bbadj.figures",),
    "report": ("bbadj.report",),
    "options": ("bbadj.args",),
    "bench": ("bbadj.bench",),
    "cli": ("bbadj.cli", "bbadj.__main__"),
}
# stage kind -> its entry: a notebook (its code cells; `bbadj stage <kind>` runs it with papermill) or a
# module of the package (a command of its own, e.g. `bbadj synth`). A stage's code is what its entry
# imports, at any depth, imports inside functions included.
STAGES: dict[str, str] = {
    "train": "notebooks/train.ipynb",  # a trained row, every seed (dvc.yaml: train@, finetune@)
    "pretrain": "notebooks/train.ipynb",  # a tier's synthetic pretrainings, the train notebook once each
    "evaluate": "notebooks/evaluate.ipynb",  # a row scored on every set, its err_px calibrated first
    "report": "notebooks/report.ipynb",
    "synth": "bbadj.data.synth",  # the long tier's synthetic images
}
# what computes a trained model's weights: a checkpoint resumes only where the code it reaches is the same
TRAINING = "bbadj.train.engine"


def notebooks() -> dict[str, str]:
    """The stage kinds that run a notebook, and its path."""
    return {kind: entry for kind, entry in STAGES.items() if entry.endswith(".ipynb")}
