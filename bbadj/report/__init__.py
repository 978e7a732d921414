"""The report (``notebooks/report.ipynb``, the report stage), which reads what the train and
evaluate stages wrote, and imports neither stage's module:

- ``curves``: the training curves read back (the train notebook draws them too);
- ``per_box``: the per-box CSVs read back (the evaluate notebook reads them too);
- ``results``: every row's per-box values per evaluation set and seed, with the photograph
  resamples every interval shares;
- ``stats``: the formulas (photograph bootstrap, seeds' variance, Welch-Satterthwaite, Holm, the
  minimum detectable difference) and the study's structure (parents, seeds of one recipe);
- ``differences``: one difference of two rows' means over seeds, with its variance terms;
- ``comparisons``: every comparison and its verdict, ``comparisons.csv`` (docs/statistics.md);
- ``context``: the buffer axis, the true edges a crop cannot reach;
- ``budgets``: each ablation at two budgets, by the difference of differences;
- ``findings``, ``tables``, ``confidence``, ``by_size``, ``plots``: the report's sentences, tables
  (rounded once), the expected error's analyses, the metrics by object size, the figures;
- ``report``: the report's sections in order, and its outputs.
"""
