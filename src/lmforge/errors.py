"""The one exception type users see.

Every mistake a user can make (a missing file, an empty corpus, a malformed line,
a model directory that is not a model) raises :class:`LmforgeError` with a message
that names *where* (file, line, byte offset, field) and *what was expected*.
The CLI prints these messages without a traceback; anything else is a bug.
"""

from __future__ import annotations


class LmforgeError(Exception):
    """A user-facing error: the message alone must tell the user what to fix."""


class DataError(LmforgeError):
    """Input data is missing, empty or malformed."""


class ConfigError(LmforgeError):
    """A configuration or model directory is invalid or inconsistent."""
