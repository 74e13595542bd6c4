"""Errors that the command line reports as one clear line and a non-zero exit."""


class StbnError(Exception):
    """A user-facing error: bad input, bad configuration, missing or malformed files.

    The message names the file or key and the problem; ``stbn`` prints it on one line and exits 2.
    """
