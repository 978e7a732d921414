"""What a stage and a training run are made of: ``code`` (the code a stage's entry reaches, read from
the source and normalised, a row's unchosen variants left out) and ``run`` (a training's four
fingerprints, which decide whether its checkpoint resumes). docs/which-code-trains.md says why."""
