"""The sf rating scale and notch arithmetic (METHODOLOGY §1).

Ratings are held as notch indices, 0 = ``AAAsf`` (best) ... 18 = ``Csf``
(worst).  "Higher" rating means a *smaller* index; ``worst_of`` is the
"min of ratings" of §8.
"""

from __future__ import annotations

from ..errors import Problem, ValidationError

SCALE: tuple[str, ...] = (
    "AAAsf", "AA+sf", "AAsf", "AA-sf", "A+sf", "Asf", "A-sf",
    "BBB+sf", "BBBsf", "BBB-sf", "BB+sf", "BBsf", "BB-sf",
    "B+sf", "Bsf", "B-sf", "CCCsf", "CCsf", "Csf",
)
"""The 19 notches, best first (Lianhe Annex 1)."""

_INDEX = {sym: i for i, sym in enumerate(SCALE)}
# Inputs may omit the "sf" suffix (METHODOLOGY §1).
_INDEX.update({sym[:-2]: i for i, sym in enumerate(SCALE)})

BELOW_SCALE = "CCCsf or below"
"""What §8 reports for a tranche that passes no tested rating."""


def _key(text) -> str:
    s = text.strip()
    return s[:-2] + "sf" if s[-2:].lower() == "sf" else s


def is_rating(text) -> bool:
    """True when ``text`` is a rating symbol of §1 (with or without ``sf``, in any case)."""
    return isinstance(text, str) and _key(text) in _INDEX


def notch(rating: str) -> int:
    """Notch index of a rating symbol: 0 for ``AAAsf`` ... 18 for ``Csf``.

    Raises
    ------
    ValidationError
        If ``rating`` is not a symbol of the §1 scale.
    """
    if isinstance(rating, str) and _key(rating) in _INDEX:
        return _INDEX[_key(rating)]
    raise ValidationError(
        [Problem("rating", "not a rating of the sf scale (AAAsf ... Csf; 'sf' may be omitted)", rating)]
    )


def canonical(rating: str) -> str:
    """The canonical ``..sf`` spelling of a rating symbol."""
    return SCALE[notch(rating)]


def from_notch(index: int) -> str:
    """Rating symbol at a notch index, clamped to the scale."""
    return SCALE[min(max(int(index), 0), len(SCALE) - 1)]


def shift(rating: str, notches: int) -> str:
    """Move a rating by ``notches``: positive is *down* (worse), negative up.

    The result is clamped to the scale (``AAAsf`` ... ``Csf``).
    """
    return from_notch(notch(rating) + int(notches))


def worst_of(*ratings: str) -> str:
    """The worse (lower) of several ratings: the "min" of METHODOLOGY §8."""
    if not ratings:
        raise ValueError("worst_of needs at least one rating")
    return from_notch(max(notch(r) for r in ratings))


def best_of(*ratings: str) -> str:
    """The better (higher) of several ratings."""
    if not ratings:
        raise ValueError("best_of needs at least one rating")
    return from_notch(min(notch(r) for r in ratings))


def at_least(rating: str, floor: str) -> bool:
    """True when ``rating`` is as good as or better than ``floor``."""
    return notch(rating) <= notch(floor)
