"""The report's figures (``plots``), drawn from ``bbadj.analysis``'s numbers with matplotlib."""
