"""Data parallelism and ZeRO: the data-parallel groups (:class:`DPGroups`), ZeRO-3's
per-micro-batch gathers, the once-per-iteration gradient sync and the optimizer step."""
from __future__ import annotations

from dataclasses import dataclass

from .. import collectives as coll
from .costs import _collective, _elementwise, _group_link


def _state_bytes(precision, optimizer):
    """Optimizer-state bytes per parameter: fp32 master copy (not for fp32 training) plus
    Adam's two moments or SGD's momentum, all fp32."""
    return (8.0 if optimizer == "adam" else 4.0) + (0.0 if precision == "fp32" else 4.0)


def _per_rank(n_dense, n_exp, n_dp, n_edp, sharded):
    """Parameters per GPU after ZeRO sharding (dense over n_dp ranks, experts over n_edp)."""
    return n_dense / n_dp + n_exp / n_edp if sharded else n_dense + n_exp


@dataclass(frozen=True)
class DPGroups:
    """A GPU's data-parallel groups: ``n_dp`` ranks share its dense parameters, ``n_edp``
    its experts, over ``link`` (collective calibration ``c``)."""
    n_dp: int
    n_edp: int
    link: dict
    c: object

    def allgather(self, nbytes, n) -> float:
        """Seconds of an all-gather, or reduce-scatter (same cost), of ``nbytes`` among ``n``."""
        return _collective(coll.allgather, nbytes, n, self.link, self.c)

    def allreduce(self, nbytes, n) -> float:
        """Seconds of an all-reduce of ``nbytes`` among ``n`` ranks."""
        return _collective(coll.allreduce, nbytes, n, self.link, self.c)

    def over(self, fn, nd, ne, per_param, *args):
        """``fn(bytes, ranks)`` over the dense (n_dp ranks) plus the expert (n_edp) params."""
        return fn(nd * per_param, self.n_dp, *args) + fn(ne * per_param, self.n_edp, *args)

    def shard(self, nd, ne, sharded):
        """Parameters per GPU of ``nd`` dense and ``ne`` expert ones, ZeRO-sharded or not."""
        return _per_rank(nd, ne, self.n_dp, self.n_edp, sharded)


def dp_groups(a, P) -> DPGroups:
    """The data-parallel groups of the inputs ``a``: dp * cp ranks, fewer for experts when
    expert parallelism borrows data-parallel ranks."""
    tp, cp, gpn = a.tp, a.cp, P["gpn"]
    n_dp = a.dp * cp
    n_edp = max(1, n_dp // max(1, a.ep // tp)) if a.ep > tp else n_dp
    link_dp = _group_link(P["link"], gpn // (tp * cp) if tp * cp < gpn else 1)
    return DPGroups(n_dp, n_edp, link_dp, P["c_coll"])


def zero3_time(a, dpg: DPGroups, n_dense, n_exp, t_stage) -> float:
    """Exposed seconds per micro-batch of ZeRO 3's parameter gathers (before the forward
    and the backward) and gradient scatter; 0 below ZeRO 3."""
    if a.zero_stage != 3:
        return 0.0
    gather = dpg.over(dpg.allgather, n_dense, n_exp, a.wbytes)
    scatter = dpg.over(dpg.allgather, n_dense, n_exp, a.gbytes)
    return max(0.0, 2.0 * gather + scatter - a.dp_overlap * t_stage)


def dp_sync(a, dpg: DPGroups, n_dense, n_exp, t_b_last, t_f_first):
    """(seconds, exposed seconds) of the once-per-iteration gradient sync: all-reduce
    (ZeRO 0), reduce-scatter + all-gather (ZeRO 1, 2), none (ZeRO 3)."""
    dp_overlap = a.dp_overlap
    if a.zero_stage == 0:
        t_dp = dpg.over(dpg.allreduce, n_dense, n_exp, a.gbytes)
        return t_dp, t_dp - dp_overlap * min(t_dp, t_b_last)
    if a.zero_stage in (1, 2):
        t_rs = dpg.over(dpg.allgather, n_dense, n_exp, a.gbytes)
        t_ag = dpg.over(dpg.allgather, n_dense, n_exp, a.wbytes)
        return t_rs + t_ag, (t_rs - dp_overlap * min(t_rs, t_b_last)
                             + t_ag - dp_overlap * min(t_ag, t_f_first))
    return 0.0, 0.0


def optimizer_step(a, P, dpg: DPGroups, n_dense, n_exp):
    """(seconds, compute-bound?, state bytes per parameter, HBM bytes per parameter) of the
    optimizer step over this GPU's shard of the parameters."""
    wbytes, gbytes = a.wbytes, a.gbytes
    shard = dpg.shard(n_dense, n_exp, a.zero_stage >= 1)
    state_b = _state_bytes(a.precision, a.optimizer)
    if a.precision == "fp32":
        opt_bytes_pp = 2 * wbytes + 2 * state_b + 2 * gbytes
    else:     # the fp32 master copy is part of the state; the 16-bit weights are written
        opt_bytes_pp = 2 * state_b + wbytes + 2 * gbytes
    t_opt, opt_compute = _elementwise(P, 12.0 * shard, opt_bytes_pp * shard)
    t_opt += 4 * P["t_launch"]
    return t_opt, opt_compute, state_b, opt_bytes_pp


def dp_traffic(zero_stage, wbytes, gbytes, m):
    """(bytes per parameter, passes, times per iteration) of the data-parallel sync's
    traffic, for energy."""
    if zero_stage == 0:                 # all-reduce the gradients
        return gbytes, 2, 1
    if zero_stage in (1, 2):            # reduce-scatter gradients, all-gather weights
        return gbytes + wbytes, 1, 1
    return 2 * wbytes + gbytes, 1, m    # per micro-batch: gather weights twice, scatter grads
