"""From caps to the final rating (xlabs/engine/rating_map.py, METHODOLOGY §8)."""

import pytest

from xlabs.engine.rating_map import TrancheRating, apply_adjustments, model_indicated, validate_adjustments
from xlabs.engine.ratings import BELOW_SCALE
from xlabs.errors import ValidationError
from xlabs.model.consumer import RatingAdjustment as Adj


def _row(r, name="A"):
    return TrancheRating(tranche=name, credit_enhancement=0.2, caps={"cash flow": r}, model_indicated=r)


def test_model_indicated_is_worst_of_caps():
    assert model_indicated(["AA", "A+sf", "AAAsf"]) == "A+sf"
    assert model_indicated([None, "BBB-", None]) == "BBB-sf"       # None = model not applied
    assert model_indicated(["AAA", BELOW_SCALE]) == BELOW_SCALE
    with pytest.raises(ValueError):
        model_indicated([None, None])


def test_notch_then_cap_in_order():
    adj = [Adj("A", "commingling", "notch", 2, "no account control"),     # AA -> AA- -> A+
           Adj("*", "servicer", "cap", "A-", "weak servicer"),            # A+ capped at A-
           Adj("A", "title", "cap", "AAA", "harmless cap")]               # cap above: no change
    row = apply_adjustments(_row("AAsf"), adj)
    assert row.final == "A-sf"
    assert [a[3] for a in row.adjustments] == ["A+sf", "A-sf", "A-sf"]
    assert row.adjustments[0][2] == "no account control"


def test_adjustments_for_other_tranches_are_ignored():
    row = apply_adjustments(_row("AAsf", "A"), [Adj("B", "x", "notch", 3, "only B")])
    assert row.final == "AAsf" and row.adjustments == []


def test_notch_clamps_at_bottom_of_scale():
    assert apply_adjustments(_row("CCCsf"), [Adj("A", "x", "notch", 5, "r")]).final == "Csf"


def test_support_lifts_only_to_supporters_rating():
    # model BBB, guarantor A+: lifted to A+ and no further
    row = apply_adjustments(_row("BBBsf"), [Adj("A", "guarantee", "support", "A+", "parent guarantee", 1.0)])
    assert row.final == "A+sf" and "A+sf" in row.support
    # supporter rated below the tranche: support never lowers it
    assert apply_adjustments(_row("AAsf"), [Adj("A", "guarantee", "support", "BBB", "weak parent", 1.0)]).final == "AAsf"
    # two supporters: the better one counts
    two = [Adj("A", "g1", "support", "BBB", "r", 1.0), Adj("A", "g2", "support", "A", "r", 1.0)]
    assert apply_adjustments(_row("BBsf"), two).final == "Asf"


def test_support_applies_after_downward_adjustments():
    adj = [Adj("A", "guarantee", "support", "A", "parent", 1.0), Adj("A", "servicer", "notch", 3, "r")]
    # AA -> 3 notches down = A- ; support lifts to A
    assert apply_adjustments(_row("AAsf"), adj).final == "Asf"


def test_below_scale_stays_unless_supported():
    row = apply_adjustments(_row(BELOW_SCALE), [Adj("A", "x", "notch", 1, "r"), Adj("A", "y", "cap", "B", "r")])
    assert row.final == BELOW_SCALE
    assert len(row.adjustments) == 2 and all(a[3] == BELOW_SCALE for a in row.adjustments)
    assert apply_adjustments(_row(BELOW_SCALE), [Adj("A", "g", "support", "BBB", "r", 1.0)]).final == "BBBsf"


def test_validate_adjustments_reports_everything():
    bad = [Adj("Z", "a", "notch", 1, "r"),          # unknown tranche
           Adj("A", "b", "lift", 1, "r"),           # unknown kind
           Adj("A", "c", "notch", -1, "r"),         # upward notch
           Adj("A", "d", "notch", 1.5, "r"),        # fractional notch
           Adj("A", "e", "cap", "AAA+", "r"),       # not a rating
           Adj("*", "f", "cap", "A", ""),           # no reason
           Adj("A", "g", "support", "AA", "r"),     # support without coverage
           Adj("A", "h", "support", "AA", "r", 1.5)]   # coverage above 1
    with pytest.raises(ValidationError) as e:
        validate_adjustments(bad, ["A", "B"])
    assert [p.where for p in e.value.problems] == [f"adjustment {i}" for i in range(1, 9)]
    validate_adjustments([Adj("*", "ok", "notch", "2", "reason"), Adj("B", "ok", "support", "AA", "r", 0.5)], ["A", "B"])


def test_partial_support_is_recorded_not_credited():
    """§8: support lifts only as far as the coverage allows; a guarantee of part of the principal and
    interest is left to the committee: recorded on the row, the rating unchanged, caps kept."""
    adj = [Adj("A", "commingling", "cap", "BBB-", "no account control"),
           Adj("A", "parent", "support", "AA+", "shortfall commitment", 0.6)]
    row = apply_adjustments(_row("AAsf"), adj)
    assert row.final == "BBB-sf"
    assert "covering 60%" in row.support and "not credited" in row.support
    # full coverage: the supporter pays whatever the structure does not, so the cap is passed
    adj[1] = Adj("A", "parent", "support", "AA+", "shortfall commitment", 1.0)
    assert apply_adjustments(_row("AAsf"), adj).final == "AA+sf"
    assert apply_adjustments(_row(BELOW_SCALE), [Adj("A", "g", "support", "A", "r", 0.99)]).final == BELOW_SCALE
