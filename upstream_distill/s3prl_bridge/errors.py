"""The bridge's user-facing error: a flag or file given to ``run_downstream.py`` is wrong."""


class UsageError(ValueError):
    """A flag or file given to the runner is wrong; the message names it.

    ``run_downstream.py`` prints it as one line (``run_downstream.py: error: ...``) and exits with 2.
    """
