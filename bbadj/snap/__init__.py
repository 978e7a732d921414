"""The product: a trained model applied to rough boxes, edge by edge, with each edge's expected
error. ``adjust``: the Snapper call (``bbadj.adjust``) and its batched form over many images;
``file``: ``bbadj snap``, a whole COCO file snapped, resumable from its ``journal``; ``lab`` and
``draw``: the snap notebook's widget (notebooks/snap.ipynb). It never imports the study's metric
loop (``bbadj.evaluate``), which scores this adjustment."""
