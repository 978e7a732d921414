"""Training: the per-edge targets and loss (``losses``) and the resumable training loop (``engine``)."""
