"""``bbadj serve``: the product as a Label Studio ML backend (docs/labelstudio.md). ``server``: its
HTTP API (/health, /setup, /predict), which snaps through ``bbadj.snap.adjust`` as ``bbadj snap``
does; ``labelstudio``: rectangles between Label Studio's percent coordinates and pixels;
``fetch``: its images, with Label Studio's token; ``settings``: where it listens."""
