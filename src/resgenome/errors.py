"""The one exception type users see: bad input, bad files, refused checkpoints.

The CLI prints its message as a single line and exits non-zero; anything else is a bug and shows a traceback.
"""


class ResgenomeError(Exception):
    """A problem with the user's input or environment, explained in one line.

    The message should name the file (and line, record or column) and say what is wrong and how to fix it.
    """

    exit_code = 2


class InputError(ResgenomeError):
    """A data file that cannot be read as the expected format."""


class CheckpointError(ResgenomeError):
    """A model file that is not a resgenome checkpoint, or one of the wrong task or version."""


class ModelWarning(UserWarning):
    """A model file that loads but lacks something newer resgenome uses (e.g. a calibration); shown as one line."""
