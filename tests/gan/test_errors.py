"""gan.errors: one error line.

One friendly line, whole where it matters (issue 25, class 8): advice is never cut, an error is cut
at a word; skip messages name the file, not a BytesIO; Pillow's EXIF warning never reaches stderr;
Keras' dataset folder is read from one place that honours KERAS_HOME.
"""

from __future__ import annotations

import pytest

from gan.errors import MAX_ERROR_CHARS, first_line


@pytest.mark.parametrize("length", [201, 250, 5000])
def test_an_error_line_is_cut_at_a_word_with_an_ellipsis(length):
    words = ("checkpoint variable generator/dense/kernel has the wrong shape " * 100)[:length]
    line = first_line(ValueError(words))
    assert len(line) <= MAX_ERROR_CHARS and line.endswith("...")
    assert words.startswith(line[:-3]) and words[len(line) - 3] == " "  # the cut falls between words


def test_a_short_error_is_not_touched():
    assert first_line(ValueError("bad value\nmore detail")) == "bad value"
    assert first_line(KeyError()) == "KeyError"
