"""Infrastructure, which knows nothing of boxes or models: the errors a user can act on
(``errors``), files that appear whole or not at all and the run lock (``outputs``), progress lines
(``progress``), what identifies a run's inputs (``fingerprint``) and where to run (``device``)."""
