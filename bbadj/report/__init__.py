"""The report (``notebooks/report.ipynb``, the report stage), which reads what the train and
evaluate stages wrote through ``bbadj.analysis``, and imports neither stage's module:

- ``budgets``: each ablation at two budgets, by the difference of differences;
- ``findings``, ``tables``: the report's sentences and tables (rounded once);
- ``report``: the report's sections in order, and its outputs.
"""
