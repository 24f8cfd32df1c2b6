"""Rating scale and notch arithmetic (xlabs/engine/ratings.py, METHODOLOGY §1)."""

import pytest

from xlabs.engine import ratings as R
from xlabs.errors import ValidationError

# METHODOLOGY §1 (Lianhe Annex 1), typed out here rather than read from the module.
EXPECTED = ["AAAsf", "AA+sf", "AAsf", "AA-sf", "A+sf", "Asf", "A-sf", "BBB+sf", "BBBsf", "BBB-sf",
            "BB+sf", "BBsf", "BB-sf", "B+sf", "Bsf", "B-sf", "CCCsf", "CCsf", "Csf"]


def test_scale_has_nineteen_notches_best_first():
    assert list(R.SCALE) == EXPECTED
    assert [R.notch(s) for s in EXPECTED] == list(range(19))


@pytest.mark.parametrize("sym", EXPECTED)
def test_sf_suffix_is_optional(sym):
    bare = sym[:-2]
    assert R.notch(bare) == R.notch(sym)
    assert R.canonical(bare) == sym
    assert R.is_rating(bare) and R.is_rating(sym)


@pytest.mark.parametrize("bad", ["AAA+", "AAA+sf", "CCC-", "CC+sf", "Aaa", "aa", "BBB sf", "3.5%", "", None, 5,
                                 "AAsff", "D"])
def test_unknown_symbols_are_rejected(bad):
    assert not R.is_rating(bad)
    with pytest.raises(ValidationError) as e:
        R.notch(bad)
    assert e.value.problems and e.value.problems[0].where == "rating"


def test_worst_of_is_the_lower_rating():
    assert R.worst_of("AAAsf", "A-", "BBB+sf") == "BBB+sf"
    assert R.worst_of("AA") == "AAsf"
    assert R.best_of("BB", "A+sf", "Csf") == "A+sf"
    with pytest.raises(ValueError):
        R.worst_of()


def test_shift_moves_down_and_clamps():
    assert R.shift("AA", 2) == "A+sf"            # AA -> AA- -> A+
    assert R.shift("A+sf", -2) == "AAsf"
    assert R.shift("B-sf", 1) == "CCCsf"
    assert R.shift("AAAsf", -3) == "AAAsf"       # clamped at the top
    assert R.shift("CCsf", 5) == "Csf"           # clamped at the bottom
    assert R.from_notch(-1) == "AAAsf" and R.from_notch(99) == "Csf"


def test_at_least():
    assert R.at_least("AA", "A")
    assert R.at_least("Asf", "A")
    assert not R.at_least("BBB+", "A-")
