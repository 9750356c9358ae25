"""Parametrized grids, sampled for the default run: every `step`-th case runs in the default `pytest` (spread
over the grid, so each kind of case is there), the rest are marked slow. CI runs `pytest -m slow` too, so
every case still runs before anything lands; a newcomer's `pytest` stays under 90 s."""
import pytest


def every(step, cases, names=1):
    """The cases of a parametrize list for `names` argument names, all but every `step`-th (from the first)
    marked slow."""
    sampled = []
    for index, case in enumerate(cases):
        if index % step == 0:
            sampled.append(case)
        elif isinstance(case, type(pytest.param())):
            sampled.append(pytest.param(*case.values, id=case.id, marks=[*case.marks, pytest.mark.slow]))
        else:
            sampled.append(pytest.param(*(case if names > 1 else (case,)), marks=pytest.mark.slow))
    return sampled
