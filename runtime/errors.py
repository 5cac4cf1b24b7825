"""The one error type jobs raise for problems with their input.

A `JobError` carries a message that already names what went wrong and where
(file, byte offset, field, source); `python -m mixc.runtime` prints it and exits 1.
Bugs are not `JobError`s: they keep their traceback.
"""


class JobError(Exception):
    """A job cannot run on the input it was given; the message says what and where."""
