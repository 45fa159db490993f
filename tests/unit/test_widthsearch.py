"""depthlab.widthsearch: the smallest passing width, as a library that trains nothing.

The multiplication experiment's own tests (test_multiplication_search.py) check the search on
the oracles that experiment meets; these check the module's contract for any caller: the
propose/update protocol, each parameter, several searches driven together, and the examples in
its docstring.
"""

import doctest
import math

import pytest

import depthlab.widthsearch as ws
from depthlab.widthsearch import WidthSearch, search_min_width


def test_the_module_docstring_examples_run():
    failed, tried = doctest.testmod(ws, verbose=False)
    assert tried >= 3 and failed == 0


def test_first_round_is_the_ladder_then_one_doubling_per_round():
    s = WidthSearch(cap=4096)
    assert s.propose() == [1, 2, 4, 8, 16]
    s.update({w: False for w in [1, 2, 4, 8, 16]})
    assert (s.lo, s.hi, s.rounds) == (16, None, 1)
    assert s.propose() == [32]
    s.update({32: False})
    assert s.propose() == [64]


def test_ladder_and_cap_shape_the_first_round():
    assert WidthSearch(cap=4096, ladder=4).propose() == [1, 2, 4]
    assert WidthSearch(cap=6, ladder=16).propose() == [1, 2, 4, 6]  # the cap itself, once
    assert WidthSearch(cap=1).propose() == [1]


def test_a_small_bracket_is_probed_whole_then_done():
    s = WidthSearch(cap=4096)
    s.update({1: False, 2: False, 4: False, 8: False, 16: True})
    assert (s.lo, s.hi) == (8, 16)
    assert s.propose() == [9, 10, 11, 12, 13, 14, 15]  # 7 untried widths <= exact_below = 8
    s.update({w: w >= 11 for w in range(9, 16)})
    assert s.done and s.result == 11 and s.lo == 10 and s.stop_reason == "found"
    assert s.propose() == []


def test_exact_below_zero_bisects_at_the_geometric_midpoint():
    s = WidthSearch(cap=4096, exact_below=0, resolution=1e-9)
    s.update({1: False, 2: False, 4: False, 8: False, 16: False, 32: False, 64: True})
    assert s.propose() == [round(math.sqrt(32 * 64))]  # 45


@pytest.mark.parametrize("resolution", [0.5, 0.25, 0.125, 0.01])
def test_resolution_bounds_the_final_bracket(resolution):
    found, s = search_min_width(lambda w: w >= 2500, cap=4096, resolution=resolution)
    assert found is not None and s.lo < 2500 <= found
    assert found - s.lo <= max(1, resolution * found)


def test_a_search_that_is_not_done_reports_running_and_no_result():
    s = WidthSearch(cap=64)
    assert not s.done and s.stop_reason == "running" and s.result is None and not s.censored


def test_plateau_from_delays_the_plateau_rule():
    def run(plateau_from):
        s = WidthSearch(cap=4096, plateau=0.1, plateau_from=plateau_from)
        while not s.done:
            widths = s.propose()
            s.update({w: False for w in widths}, {w: 0.5 for w in widths})
        return s

    early, late = run(4), run(256)
    assert early.stop_reason == "plateau" and early.lo == 16  # stops after the first round
    assert late.stop_reason == "plateau" and late.lo == 256
    assert WidthSearch(cap=4096, plateau=None).plateau is None


def test_the_plateau_rule_needs_the_errors():
    s = WidthSearch(cap=4096, plateau=0.1)
    while not s.done:
        s.update({w: False for w in s.propose()})  # no errors given: never a plateau
    assert s.stop_reason == "cap" and max(s.probed) == 4096


def test_many_searches_driven_together_equal_each_driven_alone():
    """The experiment's pattern: gather every search's proposals, answer them all, update all."""
    stars = {"a": 3, "b": 37, "c": 900, "d": None}

    def passes(key, w):
        return stars[key] is not None and w >= stars[key]

    together = {k: WidthSearch(cap=1024) for k in stars}
    rounds = 0
    while any(not s.done for s in together.values()):
        asked = {k: s.propose() for k, s in together.items()}
        for k, widths in asked.items():
            if widths:
                together[k].update({w: passes(k, w) for w in widths})
        rounds += 1
    for k, s in together.items():
        alone, ref = search_min_width(lambda w, k=k: passes(k, w), cap=1024)
        assert s.result == alone and s.probed == ref.probed and s.rounds == ref.rounds
    assert together["d"].censored and together["d"].stop_reason == "cap"
    assert rounds == max(s.rounds for s in together.values())


def test_update_accepts_widths_in_any_order_and_keeps_every_probe():
    s = WidthSearch(cap=64)
    s.update({16: True, 1: False, 8: False, 4: False, 2: False})
    assert s.probed == {1: False, 2: False, 4: False, 8: False, 16: True}
    assert (s.lo, s.hi) == (8, 16)


@pytest.mark.parametrize("cap", [0, -3])
def test_a_cap_below_one_is_refused(cap):
    with pytest.raises(ValueError, match="cap must be a width >= 1"):
        WidthSearch(cap=cap)


def test_the_experiment_re_exports_the_library_search():
    from depthlab.experiments import multiplication

    assert multiplication.WidthSearch is WidthSearch
    assert multiplication.search_min_width is search_min_width
