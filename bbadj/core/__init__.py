"""The study's vocabulary, below everything that computes: the settings (``config``: the data, model,
train and eval dataclasses; ``params``: ``params.yaml`` read once, every row resolved; ``tiers``: the
study's two budgets) and the box conventions (``box_ops``); what a run and a stage are made of
(``code``: the code a stage runs, read from the source and normalised; ``fingerprint``: a
training's inputs, which decide whether its checkpoint resumes)."""
