"""The snap notebook's widget (``notebooks/snap.ipynb``): ``lab`` (the trained models found, a box
drawn with the mouse snapped) and ``draw`` (the boxes drawn on the photograph)."""
