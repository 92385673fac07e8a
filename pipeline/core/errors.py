"""Errors that stop a command as a whole: the CLI prints them as one line, never a traceback."""


class StyleCastError(Exception):
    """A failure the user can act on; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UnusableInputError(StyleCastError):
    """The input as a whole cannot be used (missing file, missing columns, bad format)."""

    exit_code = 2


class JobFailed(StyleCastError):
    """The job started but had to stop (e.g. a diverging GAN); what was good is kept."""

    exit_code = 3


class ServiceUnavailable(StyleCastError):
    """A service the job needs (MLflow, the object store) cannot be reached right now.

    Unlike unusable input, trying again later may succeed: Airflow retries these.
    """

    exit_code = 4
