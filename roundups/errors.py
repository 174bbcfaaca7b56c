"""Errors of the command line and round-up composition.

``UsageError`` and ``ConfigError`` map to exit status 2; ``AlreadyRunning`` to 3.
"""

from __future__ import annotations


class RoundupError(Exception):
    """Base class of the errors this package raises."""


class UsageError(RoundupError):
    """A command was called with arguments that cannot work (bad month, unknown region...)."""


class ConfigError(RoundupError):
    """The registry or another configuration file cannot be used."""


class AlreadyRunning(RoundupError):
    """Another harvest holds the lock for this database."""
