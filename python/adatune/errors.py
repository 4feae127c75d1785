"""The exceptions adatune raises on purpose.

Every one derives from :class:`AdatuneError`, so ``except adatune.errors.AdatuneError``
catches whatever the package reports, and from the built-in a caller would expect
(``ValueError``, ``TypeError``, ``RuntimeError``, ``LookupError``), so code written
against the built-ins keeps working.
"""
from __future__ import annotations

__all__ = ["AdatuneError", "ArgumentError", "ArgumentTypeError", "RecordError", "PluginError",
           "NoRecordError", "NotTunedError"]


class AdatuneError(Exception):
    """Base of every error adatune raises on purpose."""


class ArgumentError(AdatuneError, ValueError):
    """An argument has the right type but a wrong value; the message names it."""


class ArgumentTypeError(AdatuneError, TypeError):
    """An argument has the wrong type; the message names it."""


class RecordError(AdatuneError, ValueError):
    """A line or object that is not a valid tuning record.

    Attributes
    ----------
    reason : str
        A short category (``bad_json``, ``not_object``, ``unknown_format``,
        ``missing_field``, ``wrong_type``, ``bad_value``) used to count rejections.
    """

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class NoRecordError(AdatuneError, LookupError):
    """No record (or no valid one) exists for the workload asked for."""


class PluginError(AdatuneError, RuntimeError):
    """The C++ plugin is missing, failed to load, or refused its arguments."""


class NotTunedError(AdatuneError, RuntimeError):
    """A result of a tuning session was asked for before one ran (``tune()`` first)."""
