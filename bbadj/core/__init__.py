"""The study's vocabulary, below everything that computes: the settings (``config``: the data, model,
train and eval dataclasses; ``params``: ``params.yaml`` read once, every row resolved; ``tiers``: the
study's two budgets), the box conventions (``box_ops``) and the named variants (``registry``)."""
