"""The error every layer raises for a setting it cannot run with."""


class ConfigError(ValueError):
    """A configuration value the pipeline cannot run with; the message says which and how to fix it."""
