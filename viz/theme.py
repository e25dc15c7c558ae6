"""How diagrams look: the colour scale for gradients, text colours that stay readable, the number format.

One colour scale serves every picture (the scalar view's nodes, the network
view's neurons and weight edges, the legend): a gradient's sign picks the hue
family (warm for positive, cool for negative) and log10 |grad| picks the
lightness, continuously and monotonically from ``scale_min`` (pale) to
``scale_max`` (dark). The colours are computed in OKLCH, a perceptual colour
space, so equal steps of log |grad| look like equal steps of colour. Exactly 0
is white (a node with grad 0 also gets a dotted border) and nan/inf is
magenta, neither of which the scale itself ever produces.

Every text colour is chosen against the colour behind it (black or white,
whichever contrasts more; either gives at least 4.6:1), so all text meets
WCAG AA (4.5:1); :func:`contrast` measures it.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Theme", "contrast", "luminance", "text_color"]

# Roles as diagrams show them (the same strings as viz.trace's).
_LEAF, _PARAMETER, _CONSTANT, _OUTPUT, _INTERMEDIATE = "leaf", "parameter", "constant", "output", "intermediate"

_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def _default_role_styles() -> dict[str, dict[str, str]]:
    # On top of every node's shape=box, style="rounded,filled".
    return {
        _LEAF: {"penwidth": "1.5"},
        _PARAMETER: {"style": "filled", "peripheries": "2"},
        _CONSTANT: {"style": "rounded,dashed", "color": "#737373"},
        _OUTPUT: {"style": "rounded,filled,bold", "penwidth": "3"},
        _INTERMEDIATE: {},
        # Summaries: a plain box with a double border (box3d's titles are clipped by the system dot).
        "module": {"style": "filled", "peripheries": "2", "penwidth": "1.5"},
        "stack": {"style": "rounded,filled", "peripheries": "2"},
    }


# ----------------------------------------------------------------------------
# Colour arithmetic
# ----------------------------------------------------------------------------


def _rgb(colour: str) -> tuple[float, float, float]:
    return int(colour[1:3], 16) / 255, int(colour[3:5], 16) / 255, int(colour[5:7], 16) / 255


def luminance(colour: str) -> float:
    """Return the WCAG relative luminance of a '#rrggbb' colour (0 black, 1 white).

    Args:
        colour: '#rrggbb'.

    Returns:
        The luminance.
    """

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """Return the WCAG contrast ratio of two '#rrggbb' colours (1 to 21; text needs 4.5).

    Args:
        a, b: the colours.

    Returns:
        The ratio.
    """
    la, lb = luminance(a), luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


@functools.lru_cache(maxsize=8192)
def text_color(background: str) -> str:
    """Return black or white, whichever contrasts more with ``background`` (always at least 4.58:1).

    Args:
        background: '#rrggbb'.

    Returns:
        '#000000' or '#ffffff'.
    """
    return "#000000" if contrast(background, "#000000") >= contrast(background, "#ffffff") else "#ffffff"


def _oklch(lightness: float, chroma: float, hue: float) -> str:
    """OKLCH to '#rrggbb', lowering the chroma until the colour is inside sRGB."""
    cos, sin = math.cos(math.radians(hue)), math.sin(math.radians(hue))
    for _ in range(60):
        a, b = chroma * cos, chroma * sin
        l_ = (lightness + 0.3963377774 * a + 0.2158037573 * b) ** 3
        m_ = (lightness - 0.1055613458 * a - 0.0638541728 * b) ** 3
        s_ = (lightness - 0.0894841775 * a - 1.2914855480 * b) ** 3
        rgb = (
            4.0767416621 * l_ - 3.3077115913 * m_ + 0.2309699292 * s_,
            -1.2684380046 * l_ + 2.6097574011 * m_ - 0.3413193965 * s_,
            -0.0041960863 * l_ - 0.7034186147 * m_ + 1.7076147010 * s_,
        )
        if all(-1e-4 <= c <= 1 + 1e-4 for c in rgb):
            break
        chroma *= 0.95
    out = []
    for c in rgb:
        c = min(1.0, max(0.0, c))
        c = 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055
        out.append(f"{round(c * 255):02x}")
    return "#" + "".join(out)


def oklab(colour: str) -> tuple[float, float, float]:
    """Return the OKLab coordinates (L, a, b) of a '#rrggbb' colour (for measuring colour differences).

    Args:
        colour: '#rrggbb'.

    Returns:
        (L, a, b); a difference of about 0.02 is just noticeable.
    """

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _rgb(colour))
    l_ = (0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b) ** (1 / 3)
    m_ = (0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b) ** (1 / 3)
    s_ = (0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b) ** (1 / 3)
    return (
        0.2104542553 * l_ + 0.7936177850 * m_ - 0.0040720468 * s_,
        1.9779984951 * l_ - 2.4285922050 * m_ + 0.4505937099 * s_,
        0.0259040371 * l_ + 0.7827717662 * m_ - 0.8086757660 * s_,
    )


# ----------------------------------------------------------------------------
# The theme
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Theme:
    """How a diagram looks: the gradient colour scale, number format, direction, font.

    Attributes:
        number: format of every number, a ``str.format`` pattern such as ``"{:.4g}"``.
        rankdir: the scalar view's direction: "LR" (inputs on the left), "TB", "RL" or "BT".
        font: font name for all text; font_size its size in points.
        scale_min, scale_max: the colour scale's ends: |grad| at or below
            ``scale_min`` gets the palest colour of its sign, at or above
            ``scale_max`` the darkest; in between, lightness follows log10 |grad|.
        positive_hues, negative_hues: OKLCH hues (degrees) of the scale's pale
            and dark ends for positive and negative gradients (default: yellow
            to red, cyan to blue).
        vanishing: a node is marked "vanishing" when 0 < |grad| < vanishing × |seed|
            (the output's gradient, 1 after ``backward()``).
        exploding: a node is marked "exploding" when one chain-rule term of its
            gradient exceeds exploding × |seed|: a product of large local
            derivatives along a path, not a sum of many ordinary terms (x used
            300 times in a sum has grad 300, made of terms of 1: not exploding).
        zero_color, nonfinite_color: fills for a gradient of exactly 0 and for nan/inf.
        zero_line_color: an edge whose gradient is exactly 0 (drawn dotted).
        cut_off_color: fill of nodes that only blocked edges reach.
        constant_color: fill of constants.
        edge_color, blocked_color: edge line colours (blocked edges are also dashed).
        muted_text: text colour of blocked edges' labels and constants (on white).
        mismatch_color, match_color: the finite-difference line when it
            disagrees / agrees (``check=True``), written on white.
        cluster_color, cluster_fill: module clusters' border and fill.
        legend: draw the legend beside the graph (``draw(legend=False)`` overrides).
        role_styles: DOT node attributes per role ("leaf", "parameter",
            "constant", "output", "intermediate") and for summaries ("module",
            "stack").
    """

    number: str = "{:.4g}"
    rankdir: str = "LR"
    font: str = "Helvetica"
    font_size: float = 10.0
    scale_min: float = 1e-4
    scale_max: float = 1e4
    positive_hues: tuple[float, float] = (100.0, 25.0)
    negative_hues: tuple[float, float] = (215.0, 265.0)
    vanishing: float = 1e-4
    exploding: float = 1e3
    zero_color: str = "#ffffff"
    zero_line_color: str = "#a6a6a6"
    nonfinite_color: str = "#c51b8a"
    cut_off_color: str = "#bdbdbd"
    constant_color: str = "#ffffff"
    edge_color: str = "#525252"
    blocked_color: str = "#8c8c8c"
    muted_text: str = "#595959"
    mismatch_color: str = "#c62828"
    match_color: str = "#1e7b34"
    cluster_color: str = "#9e9e9e"
    cluster_fill: str = "#fafafa"
    legend: bool = True
    role_styles: dict[str, dict[str, str]] = field(default_factory=_default_role_styles)

    def __post_init__(self) -> None:
        try:
            self.number.format(1.5)
        except (ValueError, IndexError, KeyError, AttributeError) as error:
            raise ValueError(f"Theme number must be a format like '{{:.4g}}', got {self.number!r}: {error}") from None
        if self.rankdir not in ("LR", "RL", "TB", "BT"):
            raise ValueError(f"Theme rankdir must be 'LR', 'RL', 'TB' or 'BT', got {self.rankdir!r}")
        for low, high in (("scale_min", "scale_max"), ("vanishing", "exploding")):
            a, b = getattr(self, low), getattr(self, high)
            if not (isinstance(a, (int, float)) and isinstance(b, (int, float)) and 0 < a < b < math.inf):
                raise ValueError(f"Theme needs 0 < {low} < {high} < inf, got {low}={a!r}, {high}={b!r}")
        for name in ("positive_hues", "negative_hues"):
            hues = getattr(self, name)
            if len(hues) != 2 or not all(isinstance(h, (int, float)) and math.isfinite(h) for h in hues):
                raise ValueError(f"Theme {name} must be two hues in degrees, got {hues!r}")
        for name in (
            "zero_color", "zero_line_color", "nonfinite_color", "cut_off_color", "constant_color", "edge_color",
            "blocked_color", "muted_text", "mismatch_color", "match_color", "cluster_color", "cluster_fill",
        ):
            value = getattr(self, name)
            if not (isinstance(value, str) and _HEX.fullmatch(value)):
                raise ValueError(f"Theme {name} must be a '#rrggbb' colour, got {value!r}")

    def fmt(self, x: float) -> str:
        """Format a number with ``number`` (nan and infinities spelt out, -0 shown as 0).

        Args:
            x: the number.

        Returns:
            The text.
        """
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return self.number.format(x + 0.0)

    def position(self, g: float) -> float:
        """Return where |g| sits on the colour scale: 0 at ``scale_min`` or below, 1 at ``scale_max`` or above.

        Args:
            g: a finite, non-zero gradient.

        Returns:
            A number in [0, 1], linear in log10 |g|.
        """
        lo, hi = math.log10(self.scale_min), math.log10(self.scale_max)
        return min(1.0, max(0.0, (math.log10(abs(g)) - lo) / (hi - lo)))

    def grad_color(self, g: float, *, line: bool = False) -> str:
        """Return the colour of a gradient: its sign picks the hue family, log10 |g| the lightness.

        Args:
            g: the gradient.
            line: the colour of a line (an edge) rather than a fill: the same
                scale, darker at the pale end so that a thin line stays visible on white.

        Returns:
            A '#rrggbb' colour: for 0 ``zero_color`` (``zero_line_color`` for a line),
            ``nonfinite_color`` for nan/inf.
        """
        if math.isnan(g) or math.isinf(g):
            return self.nonfinite_color
        if g == 0.0:
            return self.zero_line_color if line else self.zero_color
        t = self.position(g)
        start, end = self.positive_hues if g > 0 else self.negative_hues
        hue = start + (end - start) * t**0.8
        # Lightness falls with t, steepest in the middle of the scale (|grad| near 1, where teaching examples
        # live) and never flat: half linear, half a sine ramp.
        u = 0.5 * t + 0.25 * (1.0 - math.cos(math.pi * t))
        if line:
            return _oklch(0.84 - 0.44 * u, 0.09 + 0.13 * min(1.0, 2.0 * t), hue)
        # Pale to dark; the chroma grows over the lower half so the small end is tinted, not white.
        return _oklch(0.93 - 0.50 * u, 0.07 + 0.15 * min(1.0, 2.0 * t), hue)

    def grad_kind(self, g: float, terms: Sequence[float] = (), seed: float = 1.0) -> str | None:
        """Classify a gradient for the diagrams' notes.

        Args:
            g: the gradient.
            terms: its chain-rule terms (one per outgoing edge).
            seed: the output's gradient the thresholds are relative to (1 after ``backward()``).

        Returns:
            "non-finite", "vanishing" (0 < |g| < vanishing × |seed|), "exploding"
            (a term above exploding × |seed|) or None.
        """
        if math.isnan(g) or math.isinf(g):
            return "non-finite"
        scale = abs(seed) if seed and math.isfinite(seed) else 1.0
        if 0.0 < abs(g) < self.vanishing * scale:
            return "vanishing"
        if any(abs(t) > self.exploding * scale for t in terms if not math.isnan(t)):
            return "exploding"
        if not terms and abs(g) > self.exploding * scale:
            return "exploding"
        return None

    def text_on(self, background: str) -> str:
        """Return the text colour for a background (black or white, at least 4.58:1).

        Args:
            background: '#rrggbb'.

        Returns:
            '#000000' or '#ffffff'.
        """
        return text_color(background)

    def edge_width(self, g: float, thin: float = 0.6, thick: float = 4.5) -> float:
        """Return a line width for a gradient: thin at ``scale_min`` and below, thick at ``scale_max``.

        Args:
            g: the gradient (0 and non-finite get the thin and the thick end).
            thin, thick: the widths at the scale's ends (points).

        Returns:
            The width.
        """
        if math.isnan(g) or math.isinf(g):
            return thick
        if g == 0.0:
            return thin
        return thin + (thick - thin) * self.position(g)
