"""The derivative-free search of :func:`kernel_model.calibrate.fit` (numpy only).

``pattern_search`` and ``nelder_mead`` minimise a function over the unit cube ``[0, 1]^d``;
``_to_unit`` / ``_from_unit`` map a bounded parameter (linear or log scale) to and from a cube
coordinate.
"""
from __future__ import annotations

import math

import numpy as np


def _to_unit(v, lo, hi, scale):
    """Cube coordinate of ``v`` in [lo, hi] on a linear or log ``scale``."""
    if scale == "log":
        return (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return (v - lo) / (hi - lo)


def _from_unit(u, lo, hi, scale):
    """Value in [lo, hi] of cube coordinate ``u`` (clipped into [0, 1])."""
    u = min(max(float(u), 0.0), 1.0)
    if scale == "log":
        return math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
    return lo + u * (hi - lo)


def pattern_search(f, x0, step=0.25, min_step=2e-3, max_evals=1500):
    """Minimise ``f`` over the unit cube from ``x0``: try each coordinate +-step, move on
    improvement (and repeat the successful move), halve the step when no move helps."""
    x = np.clip(np.asarray(x0, float), 0.0, 1.0)
    fx, n = f(x), 1
    while step >= min_step and n < max_evals:
        improved = False
        for i in range(len(x)):
            for d in (+1.0, -1.0):
                y = x.copy()
                y[i] = min(max(y[i] + d * step, 0.0), 1.0)
                if y[i] == x[i]:
                    continue
                fy = f(y)
                n += 1
                if fy < fx:
                    x, fx, improved = y, fy, True
                    break
        if not improved:
            step /= 2.0
    return x, fx, n


def nelder_mead(f, x0, scale=0.1, max_evals=800, tol=1e-6):
    """Bounded Nelder-Mead on the unit cube (points are clipped into [0, 1])."""
    d = len(x0)
    clip = lambda z: np.clip(z, 0.0, 1.0)
    pts = [clip(np.asarray(x0, float))]
    for i in range(d):
        e = pts[0].copy()
        e[i] = e[i] + scale if e[i] + scale <= 1.0 else e[i] - scale
        pts.append(clip(e))
    vals = [f(p) for p in pts]
    n = len(pts)
    while n < max_evals:
        order = np.argsort(vals)
        pts = [pts[i] for i in order]
        vals = [vals[i] for i in order]
        if abs(vals[-1] - vals[0]) <= tol * (abs(vals[0]) + tol):
            break
        c = np.mean(pts[:-1], axis=0)
        xr = clip(c + (c - pts[-1]))
        fr = f(xr); n += 1
        if fr < vals[0]:
            xe = clip(c + 2.0 * (c - pts[-1]))
            fe = f(xe); n += 1
            pts[-1], vals[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < vals[-2]:
            pts[-1], vals[-1] = xr, fr
        else:
            xc = clip(c + 0.5 * (pts[-1] - c))
            fc = f(xc); n += 1
            if fc < vals[-1]:
                pts[-1], vals[-1] = xc, fc
            else:
                for i in range(1, len(pts)):
                    pts[i] = clip(pts[0] + 0.5 * (pts[i] - pts[0]))
                    vals[i] = f(pts[i]); n += 1
    i = int(np.argmin(vals))
    return pts[i], vals[i], n
