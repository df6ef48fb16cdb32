"""The user-facing errors of every command.

Each names what is wrong (a flag, a config key, a file, a folder) and how to
fix it; the commands print their message without a traceback.  Anything else
that escapes is a bug and keeps its traceback.
"""

__all__ = ["TrainingError", "ConfigError", "DataError", "NonFiniteLossError"]


class TrainingError(Exception):
    """Base: a problem the user can fix from the message alone."""


class ConfigError(TrainingError, ValueError):
    """A flag or config key is wrong."""


class DataError(TrainingError, ValueError):
    """The corpus is missing, empty or holds a file that cannot be used."""


class NonFiniteLossError(TrainingError, FloatingPointError):
    """The loss (or the gradient norm) became NaN/inf; training stopped without saving."""
