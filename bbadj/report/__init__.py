"""The report (``notebooks/report.ipynb``, the report stage), which reads what the train and
evaluate stages wrote, and imports neither stage's module:

- ``curves``: the training curves read back (the train notebook draws them too);
- ``per_box``: the per-box CSVs read back (the evaluate notebook reads them too);
- ``results``: every row's per-box values per evaluation set, with the bootstrap resamples;
- ``stats``: intervals, parents, reruns and the training-noise rule that judges a difference;
- ``findings``, ``tables``, ``confidence``, ``by_size``, ``plots``: the report's sentences, tables
  (rounded once), the expected error's analyses, the metrics by object size, the figures;
- ``report``: the report's sections in order, and its outputs.
"""
