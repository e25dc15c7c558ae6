"""Label text the renderers measure right: ASCII for typographic glyphs, and text widths as Graphviz sees them.

Graphviz sizes every box from its label's width. The system ``dot`` measures
text with Pango and real fonts; without them (graphviz-pure, or upstream
Graphviz built without Pango) it estimates from a table of advance widths of
the printable ASCII characters (Arimo, Tinos and Cousine, the metric twins of
Helvetica/Arial, Times and Courier). A character outside ASCII is not in the
table: each of its UTF-8 *bytes* is measured as a space, and the renderer
warns "no value for width of non-ASCII character". So ``∂`` (3 bytes) is
measured 0.34 em too wide, ``→`` 0.17 em too narrow, ``·`` twice its width.

Hence the rule for the text *we* write into labels: ASCII only, through
:func:`ascii_text` (``∂`` -> ``d``, ``→`` -> ``->``, ``·`` -> ``*``, ``Σ`` ->
``sum``, ``×`` -> ``x``). Both renderers then measure it exactly as a browser
with Arial draws it, and neither prints a warning. Text the *user* wrote
(labels, module names, op symbols) is drawn as written; where it holds
non-ASCII characters, the fallback renderer's warning is shown once
(:mod:`viz.backend`).

:func:`text_width` gives the width the estimator computes (in points), for
planning a layout before rendering it.
"""

from __future__ import annotations

__all__ = ["ASCII_FOR", "ascii_text", "non_ascii", "text_width"]

ASCII_FOR: dict[str, str] = {
    "∂": "d",
    "→": "->",
    "←": "<-",
    "·": "*",
    "×": "x",
    "Σ": "sum",
    "−": "-",
    "–": "-",
    "—": "--",
    "…": "...",
    "≈": "~",
    "≤": "<=",
    "≥": ">=",
    "≠": "!=",
}
"""The typographic glyphs our labels would use, and the ASCII each is written as."""

_TABLE = str.maketrans({k: v for k, v in ASCII_FOR.items() if k != v})

# Advance widths of the printable ASCII characters (space to '~'), in 1/2048 em: Liberation Sans 2 /
# Arimo, the metrics Graphviz's estimator uses for Helvetica and Arial (italic as regular). Checked
# character by character against graphviz-pure's own measurements in tests/test_viz_backend.py.
_UNITS_PER_EM = 2048
_REGULAR = (
    569, 569, 727, 1139, 1139, 1821, 1366, 391, 682, 682, 797, 1196, 569, 682, 569, 569,
    1139, 1139, 1139, 1139, 1139, 1139, 1139, 1139, 1139, 1139, 569, 569, 1196, 1196, 1196, 1139,
    2079, 1366, 1366, 1479, 1479, 1366, 1251, 1593, 1479, 569, 1024, 1366, 1139, 1706, 1479, 1593,
    1366, 1593, 1479, 1366, 1251, 1479, 1366, 1933, 1366, 1366, 1251, 569, 569, 569, 961, 1139,
    682, 1139, 1139, 1024, 1139, 1139, 569, 1139, 1139, 455, 455, 1024, 455, 1706, 1139, 1139,
    1139, 1139, 682, 1024, 569, 1139, 1024, 1479, 1024, 1024, 1024, 684, 532, 684, 1196,
)  # fmt: skip
_BOLD = (
    569, 682, 971, 1139, 1139, 1821, 1479, 487, 682, 682, 797, 1196, 569, 682, 569, 569,
    1139, 1139, 1139, 1139, 1139, 1139, 1139, 1139, 1139, 1139, 682, 682, 1196, 1196, 1196, 1251,
    1997, 1479, 1479, 1479, 1479, 1366, 1251, 1593, 1479, 569, 1139, 1479, 1251, 1706, 1479, 1593,
    1366, 1593, 1479, 1366, 1251, 1479, 1366, 1933, 1366, 1366, 1251, 682, 569, 682, 1196, 1139,
    682, 1139, 1251, 1139, 1251, 1139, 682, 1251, 1251, 569, 569, 1139, 569, 1821, 1251, 1251,
    1251, 1251, 797, 1139, 682, 1251, 1139, 1593, 1139, 1139, 1024, 797, 573, 797, 1196,
)  # fmt: skip


def ascii_text(text: str) -> str:
    """Write the typographic glyphs of :data:`ASCII_FOR` in ASCII, so the renderer measures the text exactly.

    For the text a diagram itself writes ("d = -3 * g=0.5 -> -1.5"), never for
    the user's labels, which are drawn as written.

    Args:
        text: label text.

    Returns:
        The text with each glyph of :data:`ASCII_FOR` replaced (other characters unchanged).
    """
    return text.translate(_TABLE)


def non_ascii(text: str) -> list[str]:
    """Return the distinct characters of ``text`` that the fallback renderer can't measure, in order.

    Args:
        text: label or DOT text.

    Returns:
        Each non-ASCII character once, in order of first appearance.
    """
    return list(dict.fromkeys(c for c in text if ord(c) > 127))


def text_width(text: str, font_size: float = 10.0, *, bold: bool = False) -> float:
    """Return the width of one line of text as Graphviz's estimator measures it, in points.

    This is what graphviz-pure (and any Graphviz without Pango) uses to size
    the box around the text, for Helvetica and Arial: exact for ASCII (the
    width Arial draws it with); a non-ASCII character counts one space per
    UTF-8 byte, as the estimator does.

    Args:
        text: one line of plain text (no markup, no newline).
        font_size: the font size in points.
        bold: bold (``<B>``) text; italic measures as regular.

    Returns:
        The width in points.
    """
    widths = _BOLD if bold else _REGULAR
    space = widths[0]
    units = 0
    for c in text:
        code = ord(c)
        if 32 <= code < 127:
            units += widths[code - 32]
        else:  # outside the table: a space per UTF-8 byte (control characters included)
            units += space * len(c.encode("utf-8", "surrogatepass"))
    return units * font_size / _UNITS_PER_EM
