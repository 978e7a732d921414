"""The product: a trained model applied to rough boxes, edge by edge, with each edge's expected
error. ``adjust``: the Snapper call (``bbadj.adjust``) and its batched form over many images;
``file``: ``bbadj snap``, a whole COCO file snapped, resumable from its ``journal``, its boxes kept
or listed for review by the ``review`` rule, written only where ``targets`` allows; ``lab`` and
``draw``: the snap notebook's widget (notebooks/snap.ipynb); ``serve``: ``bbadj serve``, a Label Studio
ML backend (``labelstudio``: its rectangles; ``fetch``: its images). It never imports the study's
metric loop (``bbadj.scoring.evaluate``), which scores this adjustment."""
