"""Errors a user can act on. Each message says what is wrong and where (the file, image id,
annotation id, setting or run directory) and, where there is one, what to do; the command line
prints them as ``bbadj <command>: error: <message>`` with exit code 2, without a traceback.

Each also derives from the built-in exception a caller would expect (``ValueError`` for bad data
or settings, ``KeyError`` for an unknown name, ...), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class BbadjError(Exception):
    def __str__(self) -> str:
        # the message as written: KeyError's own __str__ would put it in quotes
        return str(self.args[0]) if self.args else ""


class DataError(BbadjError, ValueError):
    """Bad input data (annotations, images, detections, checkpoints); names the file, image id or
    annotation id."""


class ConfigError(BbadjError, ValueError):
    """A setting out of its range; names the key and what it may be."""


class UnknownName(ConfigError, KeyError):
    """A setting, evaluation set or other name that does not exist; lists those that do."""


class WrongType(ConfigError, TypeError):
    """A setting of the wrong type; names the key."""


class OutputError(BbadjError):
    """An output that could not be written: no space left, not writable, or values its format
    cannot hold (NaN in JSON); names the file."""


class WeightsError(BbadjError, RuntimeError):
    """Backbone weights that cannot be loaded (not downloaded, not installed, damaged); says where
    they are looked for and how to get them."""


class RunError(BbadjError, RuntimeError):
    """A training run that cannot go on: its directory is in use, its checkpoint is of another
    run, or its loss stopped being finite."""
