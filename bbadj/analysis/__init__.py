"""The study's numbers read back and compared, for the report and the stages' notebooks; no figure,
no table:

- ``curves``: the training curves read back (the train notebook draws them too);
- ``per_box``: the per-box CSVs read back (the evaluate notebook reads them too);
- ``results``: every row's per-box values per evaluation set and seed, with the photograph
  resamples every interval shares;
- ``stats``: the formulas (photograph bootstrap, seeds' variance, Welch-Satterthwaite, Holm, the
  minimum detectable difference) and the study's structure (parents, seeds of one recipe);
- ``differences``: one difference of two rows' means over seeds, with its variance terms;
- ``comparisons``: every comparison and its verdict, ``comparisons.csv`` (docs/statistics.md);
- ``context``: the buffer axis, the true edges a crop cannot reach;
- ``confidence``, ``by_size``: the expected error's analyses, the metrics by object size.
"""
