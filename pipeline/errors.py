"""Errors that stop a command as a whole: the CLI prints them as one line and exits 2."""


class UnusableInputError(Exception):
    """The input as a whole cannot be used (missing file, missing columns, bad format)."""
