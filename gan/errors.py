"""One-line error text: what the CLI's `error: ...` line and the app's messages can show."""

from __future__ import annotations


def first_line(error: BaseException) -> str:
    """The first line of `error`'s message (its type's name when it has none), at most 200 characters.

    Keras, TensorFlow and JAX errors often run to pages; the first line is the part a user can act on.
    """
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


class CliError(Exception):
    """Bad input to a command; `python -m gan` prints it as one `error:` line and exits 2."""


class ConfigError(ValueError):
    """An invalid setting; str(e) is one line meant for the user."""


class ExtractorError(ValueError):
    """A feature extractor that cannot be used here; str(e) is one line saying how to fix it."""
