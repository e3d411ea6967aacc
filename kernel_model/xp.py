"""numpy for the closed form, with a pure-float branch for one scenario.

The engine's modules do ``from . import xp as np``. On arrays every function here is
numpy's; when every argument is a Python number (one scenario, ``simulate()``) it answers
with ``math`` and plain comparisons instead, so a single scenario does not pay numpy's ~1 µs
per call on scalars. The results are the same IEEE operations: identical for where / maximum / minimum / ceil /
floor / select / sqrt, within one unit in the last place for log2 / log / exp (libm and
numpy's own routines round differently in rare cases; tests check both).
Anything not defined here is numpy's own (module ``__getattr__``): correct, but it turns the
scalar into a numpy scalar (slower). Two differences of plain Python numbers to keep in mind:
``x / 0.0`` raises ZeroDivisionError where numpy gives inf (guard such divisions), and ``~c``
on a Python bool is bitwise (``~True == -2``, truthy): write ``c == 0`` or combine it with
``&`` only (``(p > 0) & ~c`` is right: it gives 0 or 1).
"""
from __future__ import annotations

import math

import numpy as _np

inf = math.inf
nan = math.nan
_S = (float, int, bool)
_NUM = {float, int, bool}


def __getattr__(name):
    return getattr(_np, name)


_COND = {bool, int}      # (p > 0) & (q < 1) on Python numbers gives a bool or an int 0 / 1


def where(c, a, b):
    if c.__class__ in _COND:
        return a if c else b
    return _np.where(c, a, b)


def maximum(a, b):
    if a.__class__ in _NUM and b.__class__ in _NUM:
        if a != a or b != b:
            return nan
        return a if a >= b else b
    return _np.maximum(a, b)


def minimum(a, b):
    if a.__class__ in _NUM and b.__class__ in _NUM:
        if a != a or b != b:
            return nan
        return a if a <= b else b
    return _np.minimum(a, b)


def ceil(x):
    if x.__class__ in _NUM:
        return float(math.ceil(x)) if math.isfinite(x) else float(x)
    return _np.ceil(x)


def floor(x):
    if x.__class__ in _NUM:
        return float(math.floor(x)) if math.isfinite(x) else float(x)
    return _np.floor(x)


def _logarithm(f, npf, x):
    """numpy's ``npf(x)``, with ``f`` on a plain number (-inf at 0, nan below, as numpy)."""
    if x.__class__ in _NUM:
        if x > 0:
            return f(x)
        return -inf if x == 0 else nan
    return npf(x)


def log2(x):
    return _logarithm(math.log2, _np.log2, x)


def log(x):
    return _logarithm(math.log, _np.log, x)


def exp(x):
    if x.__class__ in _NUM:
        try:
            return math.exp(x)
        except OverflowError:
            return inf
    return _np.exp(x)


def sqrt(x):
    if x.__class__ in _NUM:
        return math.sqrt(x) if x >= 0 else nan
    return _np.sqrt(x)


def select(condlist, choicelist, default=0):
    if all(c.__class__ in _COND for c in condlist):
        for c, v in zip(condlist, choicelist):
            if c:
                return v
        return default
    return _np.select(condlist, choicelist, default)


def asarray(x, dtype=None):
    if x.__class__ in _NUM:
        return float(x) if dtype is float else x
    return _np.asarray(x, dtype=dtype)


def is_scalar(x) -> bool:
    return x.__class__ in _NUM
