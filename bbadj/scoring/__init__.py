"""The product's adjustment scored: the paper's metrics (``metrics``), over jitter draws
(``evaluate``) or a detector's boxes (``detections``); the GrabCut baseline (``grabcut``); err_px's
scale fitted on held-out boxes (``calibration``). It stands above ``snap/``, which never imports it."""
