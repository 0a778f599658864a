"""Errors that reach a user as one clear line instead of a traceback."""


class UserError(Exception):
    """A mistake the user can fix: bad arguments, a missing file, an invalid setting.

    The message says what is wrong and how to fix it; the CLI prints it and exits non-zero.
    """


class ConfigError(UserError):
    """The configuration file or an environment override is invalid."""
