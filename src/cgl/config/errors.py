"""Errors a user can act on: raised before training, printed as one paragraph by the CLI."""


class CglError(Exception):
    """Bad input or a missing resource; the message says what to change."""


class ConfigError(CglError):
    """An invalid combination of config choices or values."""


class DatasetUnavailableError(CglError):
    """A dataset is neither cached nor downloadable (for example offline)."""
