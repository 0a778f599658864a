"""Errors that reach a user as one clear line instead of a traceback."""


class UserError(Exception):
    """A mistake the user can fix: bad arguments, a missing file, an invalid setting.

    The message says what is wrong and how to fix it; the CLI prints it and exits non-zero.
    ``key`` and ``params`` name the reason for pages, which say it in the reader's language
    (``reason.<key>`` in ``ioc.i18n``); the message stays English for the API, the CLI and logs.
    """

    def __init__(self, message: str = "", key: str | None = None, **params: object) -> None:
        super().__init__(message)
        self.key = key
        self.params = params


class ConfigError(UserError):
    """The configuration file or an environment override is invalid."""


class ActionRefused(UserError):
    """A command-chain action that cannot be done as asked; the message says why."""


class Forbidden(ActionRefused):
    """The actor's role (or org) may not do this."""


class Conflict(ActionRefused):
    """Someone changed the item since the actor looked at it (a stale version), or took the unit first."""


class Stale(Conflict):
    """The version the actor saw is not the item's version any more: reload before acting."""


class InvalidTransition(ActionRefused):
    """The item is not in a state this action starts from."""


class NotFound(ActionRefused):
    """No such incident, work order, unit or user."""
