"""The two errors a user can fix, on the ground floor so that every tier raises them without importing another.

A :class:`ConfigError` is a parameter the user gave; a :class:`StoreError` is a path the user owns (the run store
or an output folder). Both carry one line that names what is wrong and what is allowed; the command line turns
them into that line and exit status 2, where any other exception is a bug and keeps its traceback.
"""


class ConfigError(ValueError):
    """A parameter is invalid; the message names it, its value and the allowed range."""


class StoreError(RuntimeError):
    """The run store or an output path cannot be used as it is (a file where a directory should be, read-only,
    full); the message names the path and what is wrong."""
