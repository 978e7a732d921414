"""Infrastructure, which knows nothing of boxes or models: the errors a user can act on
(``errors``), files that appear whole or not at all and the run lock (``outputs``), progress lines
(``progress``), where to run (``device``), and the package's plan: its layers and what each stage of
the study runs (``layout``)."""
