"""Corporate workbook inputs that ended in an internal error or were silently ignored."""

from __future__ import annotations

import pytest

from tests.corporate.test_corporate_path import _problems, res_scenarios, tiny_kwargs
from xlabs.engine.portfolio.inputs import Obligor, PortfolioTables, recoveries
from xlabs.workbook.adapter import OpenpyxlBook
from xlabs.workbook.corporate_build import build_corporate_workbook
from xlabs.workbook.corporate_reader import read_corporate


def _build(tmp_path, kw, name="t.xlsx"):
    path = tmp_path / name
    build_corporate_workbook(path, **kw)
    return path


def _corr(**over):
    rows = {"base": 0.0, "same_industry": 0.0, "same_region": 0.0, "same_group": 0.0, "cap": 0.99}
    rows.update(over)
    return [{"parameter": k, "value": v} for k, v in rows.items() if v is not None]


def test_percent_in_a_stress_scenario_is_a_cell_problem_not_a_type_error(tmp_path):
    kw = tiny_kwargs()
    sc = res_scenarios()
    sc[1]["recovery_haircut"] = 50          # 50 (percent) instead of 0.5: RatingTables row of the 2nd scenario
    kw["scenarios"] = sc
    probs = _problems(_build(tmp_path, kw))
    assert any(w.startswith("RatingTables!C") and r.startswith("recovery_haircut") for w, r in probs), probs


@pytest.mark.parametrize("rows, rule", [
    (_corr(same_industry=None) + [{"parameter": "same_industy", "value": 0.15}], "unknown correlation parameter"),
    (_corr(cap=None) + [{"parameter": "capp", "value": 0.3}], "unknown correlation parameter"),
    (_corr(base=1.0), "base must be a fraction in [0, 1)"),
    (_corr(same_group=None), "the correlation table needs a row for each of: same_group"),
])
def test_correlation_table_problems_name_their_cell(tmp_path, rows, rule):
    kw = tiny_kwargs()
    kw["tables"]["correlation"] = rows
    probs = _problems(_build(tmp_path, kw))
    assert any(w.startswith("RatingTables!") and r.startswith(rule) for w, r in probs), probs


def test_industry_table_without_other_row_is_fine_when_every_industry_is_listed():
    t = PortfolioTables.shipped()
    t.industry_recovery = {"manufacturing": 0.3}
    rec, _ = recoveries([Obligor("X", 1.0, 12, "BBB", industry="manufacturing")], t)
    assert rec[0] == pytest.approx(0.3)


def test_assets_of_one_obligor_need_one_shadow_rating_industry_region_and_group(tmp_path):
    """The assets of one obligor default together (one default time, §4.5): their rating and correlation
    attributes must agree, or the Monte Carlo would have no single obligor to draw."""
    def edit(obs):
        obs[1]["id"] = obs[0]["id"]          # OB1 twice: BB (row 3) and B (row 4)
    probs = _problems(_build(tmp_path, tiny_kwargs(obligor_edit=edit)))
    assert any(w == "Obligors!G4" and "share its shadow_rating" in r for w, r in probs), probs

    def edit2(obs):
        obs[1].update(id=obs[0]["id"], shadow_rating=obs[0]["shadow_rating"], industry="utilities",
                      region="elsewhere", group="G9")
    probs = _problems(_build(tmp_path, tiny_kwargs(obligor_edit=edit2), "t2.xlsx"))
    assert sorted(w for w, r in probs if "assets of one obligor" in r) == ["Obligors!B4", "Obligors!H4",
                                                                         "Obligors!I4"], probs


def test_a_cap_on_a_step_that_is_not_capped_and_revolving_terms_without_a_period_are_refused(tmp_path):
    """Both were read and then ignored without a word: a cap on an amount-'due' step, and revolving_rate /
    revolving_term on a Deal sheet that never states revolving_periods."""
    kw = tiny_kwargs()
    kw["steps"][1]["cap"] = 1e6                       # pay_interest A, amount due: Waterfall row 4, column E
    kw["deal"].update(revolving_rate=0.08, revolving_term=12)
    got = _problems(_build(tmp_path, kw))
    assert any(w == "Waterfall!E4" and r.startswith("cap: a step with amount 'due' would ignore its cap")
               for w, r in got), got
    assert sorted(r.split(" ")[0] for _, r in got if "describes the assets bought" in r) == [
        "revolving_rate", "revolving_term"], got
    assert len(got) == 3, got
    kw["deal"]["revolving_periods"] = 0                 # revolving switched off in so many words: terms may stay
    kw["steps"][1]["cap"] = None
    read_corporate(OpenpyxlBook(str(_build(tmp_path, kw, "off.xlsx"))))      # no problem raised


def test_a_stressed_cpr_above_100_percent_is_a_cell_problem(tmp_path):
    """Deal cpr 0.8 x the shipped prepay_up multipliers (up to 1.5) exceed 100 %: refused at the multiplier's cell,
    as in the consumer reader, instead of being capped silently in the cash flows."""
    kw = tiny_kwargs()
    kw["deal"]["cpr"] = 0.8
    kw["scenarios"] = res_scenarios()
    probs = _problems(_build(tmp_path, kw))
    hits = [(w, r) for w, r in probs if "exceeds 100%" in r]
    n = sum(1 for s in res_scenarios() if 0.8 * float(s["cpr_multiplier"]) > 1.0)
    assert len(hits) == n > 0 and all(w.startswith("RatingTables!D") for w, _ in hits), probs
    kw["deal"]["cpr"] = 0.5                 # 0.5 x 1.5 = 0.75: fine
    read_corporate(OpenpyxlBook(str(_build(tmp_path, kw, "ok.xlsx"))))


def test_the_shipped_corporate_table_tests_front_middle_and_back_timing_at_every_rating():
    """Lianhe (seed 001, 四(二)3 违约时间分布): default timing is tested front-, middle- and back-loaded."""
    by: dict = {}
    for s in res_scenarios():
        by.setdefault(s["rating"], set()).add(s["timing"])
    assert len(by) == 16 and all({"front", "middle", "back"} <= t for t in by.values()), by


@pytest.mark.parametrize("kind, value, rule", [
    ("cap", "AAA+", "unknown rating symbol"),
    ("support", "A++", "unknown rating symbol"),
    ("notch", "two", "notches must be a whole number >= 0"),
    ("notch", -1, "notches must be a whole number >= 0"),
])
def test_bad_adjustment_value_is_refused_at_its_cell_when_read(tmp_path, kind, value, rule):
    """As in a consumer workbook: a bad Adjustments value is a problem at Adjustments!D<row> when the
    workbook is read (xlabs validate), not an 'adjustment 1' problem after the Monte Carlo has run."""
    adj = [{"tranche": "A", "factor": "f", "kind": kind, "value": value, "reason": "why",
            "coverage": 1.0 if kind == "support" else None}]
    path = _build(tmp_path, tiny_kwargs(adjustments=adj))
    from xlabs.errors import ValidationError
    with pytest.raises(ValidationError) as e:
        read_corporate(OpenpyxlBook(path))
    probs = {(p.where, p.rule) for p in e.value.problems}
    assert ("Adjustments!D3", rule) in probs, probs


@pytest.mark.parametrize("table, row", [
    ("industry_recovery", {"industry": "manufacturing", "base_recovery": 0.9}),
    ("rating_recovery", {"rating": "AAA", "rating_adjustment": 0.2, "guarantee_uplift": 0.0}),
    ("guarantee_type", None),
    ("collateral", None),
    ("recovery_adjustment", {"kind": "seniority", "level": "senior_unsecured", "adjustment": 0.3}),
])
def test_a_key_listed_twice_in_a_portfolio_table_is_refused_at_the_later_row(tmp_path, table, row):
    """PortfolioTables.from_rows reads each table into a dict: a second row of a key (a higher recovery for
    manufacturing, say) silently replaced the first."""
    from xlabs.engine.portfolio.inputs import TABLE_FILES
    from xlabs.engine.portfolio.tables import read_rows
    kw = tiny_kwargs()
    rows = [dict(r) for r in read_rows(TABLE_FILES[table])[0]]      # the shipped table, written to the workbook
    dup = dict(rows[0]) if row is None else row
    kw["tables"][table] = [*rows, dup]
    probs = _problems(_build(tmp_path, kw))
    hits = [(w, r) for w, r in probs if "listed twice" in r]
    assert len(hits) == 1 and hits[0][0].startswith("RatingTables!"), probs


def test_a_schedule_name_listed_twice_is_refused_at_the_later_row(tmp_path):
    """The sample's acceleration trigger reads the Schedules row acc_cdr (3.2% rising 0.2% a period); a second
    acc_cdr row below it, at twice the levels, silently replaced it (a later acceleration, a higher rating)."""
    from pathlib import Path

    import openpyxl

    from xlabs.errors import ValidationError
    from xlabs.workbook.run import validate_workbook
    wb = openpyxl.load_workbook(Path(__file__).resolve().parents[2] / "workbooks" / "corporate_sample.xlsx")
    ws = wb["Triggers"]
    assert ws["A8"].value == "acc_cdr" and ws["B8"].value == pytest.approx(0.032)
    ws.insert_rows(9)
    for c in range(1, ws.max_column + 1):
        v = ws.cell(8, c).value
        ws.cell(9, c).value = 2 * v if isinstance(v, float) else v
    p = tmp_path / "x.xlsx"
    wb.save(p)
    with pytest.raises(ValidationError) as e:
        validate_workbook(p)
    assert [q.where for q in e.value.problems] == ["Triggers!A9"], e.value


def test_a_waterfall_block_without_steps_is_refused_by_validate_at_its_cell(tmp_path):
    """The Waterfall rules ran only when there was a step: 'xlabs validate' found no problem in a corporate
    workbook whose Waterfall block had its header row alone, and 'xlabs rate' then refused it at the bare sheet
    name ('Waterfall: the waterfall has no steps').  Both now say it at the first step's row, as for a consumer
    deal's Waterfall sheet."""
    from pathlib import Path

    import openpyxl

    from xlabs.errors import ValidationError
    from xlabs.workbook.run import rate_workbook, validate_workbook
    wb = openpyxl.load_workbook(Path(__file__).resolve().parents[2] / "workbooks" / "corporate_sample.xlsx")
    ws = wb["Waterfall"]
    assert ws["A2"].value == "source"
    ws.delete_rows(3, ws.max_row)
    p = tmp_path / "x.xlsx"
    wb.save(p)
    for run in (validate_workbook, lambda q: rate_workbook(q, out=tmp_path / "out.xlsx")):
        with pytest.raises(ValidationError) as e:
            run(p)
        assert [(q.where, q.rule) for q in e.value.problems] == [("Waterfall!A3", "the waterfall has no steps")]
    assert not (tmp_path / "out.xlsx").exists()
