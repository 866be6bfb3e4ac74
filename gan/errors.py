"""One-line error text: what the CLI's `error: ...` line and the app's messages can show."""

from __future__ import annotations

MAX_ERROR_CHARS = 200


def shorten(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """`text` cut to at most `limit` characters at a word boundary, with "..." when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 3]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:(") + "..."


def first_line(error: BaseException) -> str:
    """The first line of `error`'s message (its type's name when it has none), the problem cut to
    MAX_ERROR_CHARS at a word boundary.

    Keras, TensorFlow and JAX errors often run to pages; the first line is the part a user can act on.
    The advice an error carries (`error.advice`, the end of its message; or the error it wraps) is
    never cut: half a file name to put somewhere helps nobody.
    """
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    advice = _advice(error)
    if advice and text.endswith(advice) and len(text) > len(advice):
        return f"{shorten(text[: -len(advice)].rstrip('; '))}; {advice}"
    return shorten(text)


def _advice(error: BaseException | None) -> str:
    """The advice `error` carries, or the error it wraps (`raise ... from e` with e's message inside)."""
    for _ in range(5):
        if error is None:
            break
        if getattr(error, "advice", ""):
            return error.advice
        error = error.__cause__ or error.__context__
    return ""


class CliError(Exception):
    """Bad input to a command; `python -m gan` prints it as one `error:` line and exits 2."""


class ConfigError(ValueError):
    """An invalid setting; str(e) is one line meant for the user."""


class ExtractorError(ValueError):
    """A feature extractor that cannot be used here; str(e) is one line saying how to fix it."""
