"""The engine's costs as training uses them: collectives of a group, element-wise kernels
on the roofline, kernel times summed by cause, and the link of a group of GPUs."""
from __future__ import annotations

from ..kernels import roofline
from ..simulate import _f


def _group_link(link: dict, gpus_in_node: float) -> dict:
    """``link`` for a group whose consecutive members share nodes ``gpus_in_node`` at a time."""
    d = dict(link)
    if link["gpn"] > 1:
        d["gpn"] = float(max(1, gpus_in_node))
    return d


def _by_cause(kt, names):
    """Seconds of the ``kernel_times`` entries ``names`` by cause (engine categories)."""
    compute, hbm, launch, comm = (sum((_f(kt[n][i]) for n in names), 0.0) for i in (1, 2, 3, 4))
    return {"compute": compute, "hbm": hbm, "launch_overhead": launch, "communication": comm}


def _collective(fn, nbytes, n, link, c) -> float:
    """Seconds of the collective ``fn`` (``kernel_model.collectives``) among ``n`` ranks; a
    group of one GPU skips the call (it costs nothing, and this is the hot path)."""
    return _f(fn(nbytes, n, link, c)) if n > 1 else 0.0


def _elementwise(P, flops, bytes_):
    """(seconds, compute-bound?) of a fused element-wise kernel on the engine's roofline."""
    t, c, m = roofline(flops, bytes_, P["F16"] * P["ef"], P["HBM"] * P["em"], P["rexp"])
    return _f(t), bool(c >= m)
