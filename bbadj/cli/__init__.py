"""The ``bbadj`` command line: ``main`` (the console script) and its parser, and the commands
that work on the study's DVC runs, ``show`` (``bbadj show``) and ``presets`` (``bbadj exp-run``).
The options it shares with ``bbadj bench`` are ``bbadj.args``."""
