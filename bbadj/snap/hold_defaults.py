"""The hold's modes and ``bbadj snap``'s and ``bbadj serve``'s defaults for it (``bbadj.snap.hold``;
docs/snap.md, "Do no harm"), in a module that imports nothing, so the command line shows them
without loading torch."""

MODES = ("hold", "shrink")  # hold: the other edges where the model put them; shrink: hold x err_px less
HOLD, HOLD_MODE = 1.0, "shrink"  # chosen on coco128's val split with bbadj bench snap-harm
