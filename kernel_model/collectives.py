"""Collective communication times (seconds), vectorised over numpy arrays.

Conventions: ``S`` is the message size in bytes (the full tensor each rank holds for an
all-reduce; the gathered tensor for all-gather; the bytes one rank sends for all-to-all),
``n`` the ranks, ``bw`` one-direction bandwidth per GPU in bytes/s, ``lat`` seconds per
hop, ``c`` the fixed cost of one collective call per synchronisation round: a call among
n ranks pays ``c * log2(n)`` (launch, then a tree of handshakes and the wait for the slowest
rank, which grow with the number of ranks).

Algorithms (``ALGORITHMS`` codes):
  ring       2(n-1) hops, each carrying S/n: bandwidth-optimal, latency grows with n;
  tree       2*ceil(log2 n) hops, 2S over the link (double binary tree);
  oneshot    1 hop, every rank reads the n-1 other buffers: (n-1)S over the link;
  twoshot    2 hops (direct reduce-scatter + all-gather), 2(n-1)/n S over the link;
  in_switch  2 hops, the switch reduces: S over the link (NVLS / SHARP; nvlink4/5 only);
  auto       the fastest algorithm the link supports; one/two-shot need P2P access and, as
             in serving stacks whose custom all-reduce kernels stage data through a fixed
             P2P buffer, are used only up to ``direct_max`` bytes (larger: ring / tree).
"""
from __future__ import annotations

from . import xp as np   # numpy, with a pure-float branch for one scenario

ALGORITHMS = {"auto": 0, "ring": 1, "tree": 2, "oneshot": 3, "twoshot": 4, "in_switch": 5}
INF = np.inf


def sync_cost(n, c):
    """Fixed cost (s) of one collective call among n ranks: c per round, log2(n) rounds."""
    return c * np.log2(np.maximum(n, 2.0))


def allreduce_flat(S, n, bw, lat, alg, p2p, in_switch, direct_max=INF):
    """All-reduce over one link type, without the fixed call cost."""
    n = np.maximum(n, 1.0)
    nm1 = n - 1.0
    ring = 2.0 * nm1 * lat + 2.0 * nm1 / n * S / bw
    tree = 2.0 * np.ceil(np.log2(n)) * lat + 2.0 * nm1 / n * S / bw * 1.15
    oneshot = lat + nm1 * S / bw
    twoshot = 2.0 * lat + 2.0 * nm1 / n * S / bw
    insw = 2.0 * lat + S / bw
    direct = np.minimum(oneshot, twoshot)
    auto = np.minimum(ring, tree)
    auto = np.where((p2p > 0) & (S <= direct_max), np.minimum(auto, direct), auto)
    auto = np.where(in_switch > 0, np.minimum(auto, insw), auto)
    t = np.select([alg == 1, alg == 2, alg == 3, alg == 4, alg == 5], [ring, tree, oneshot, twoshot, insw], auto)
    return np.where(n > 1, t, 0.0)


def allgather_flat(S, n, bw, lat, alg, p2p):
    """All-gather (or reduce-scatter) of an S-byte result over n ranks."""
    n = np.maximum(n, 1.0)
    nm1 = n - 1.0
    ring = nm1 * lat + nm1 / n * S / bw
    direct = lat + nm1 / n * S / bw
    use_direct = (p2p > 0) & ((alg == 0) | (alg >= 3))
    t = np.where(use_direct, direct, ring)
    return np.where(n > 1, t, 0.0)


def allreduce(S, n, link, c, group=1.0):
    """Hierarchical all-reduce; ``link`` is a dict of arrays (see ``simulate.link_params``).

    Ranks beyond ``gpn`` GPUs per node reduce-scatter inside the node, all-reduce S/n_in
    across nodes over the inter-node link, then all-gather inside the node. Per-hop
    latency and the fixed cost ``c`` are shared by ``group`` coalesced collectives.
    """
    n_in = np.minimum(n, link["gpn"])
    n_out = np.ceil(n / n_in)
    bw_i, lat_i = link["bw"], link["lat"] / group
    intra_only = allreduce_flat(S, n_in, bw_i, lat_i, link["alg"], link["p2p"], link["in_switch"],
                                link.get("direct_max", INF))
    rs = allgather_flat(S, n_in, bw_i, lat_i, link["alg"], link["p2p"])
    inter = allreduce_flat(S / n_in, n_out, link["bw_x"], link["lat_x"] / group, 1.0, 0.0, 0.0)
    t = np.where(n_out > 1, 2.0 * rs + inter, intra_only)
    return np.where(n > 1, t + sync_cost(n, c) / group, 0.0)


def allgather(S, n, link, c, group=1.0):
    n_in = np.minimum(n, link["gpn"])
    n_out = np.ceil(n / n_in)
    intra = allgather_flat(S, n, link["bw"], link["lat"] / group, link["alg"], link["p2p"])
    inter = allgather_flat(S, n, link["bw_x"], link["lat_x"] / group, 1.0, 0.0)
    t = np.where(n_out > 1, inter, intra)
    return np.where(n > 1, t + sync_cost(n, c) / group, 0.0)


def alltoall(S, n, link, c, group=1.0):
    """All-to-all where each rank sends S bytes spread evenly over the n ranks."""
    n = np.maximum(n, 1.0)
    nm1 = n - 1.0
    n_out = np.ceil(n / np.minimum(n, link["gpn"]))
    bw = np.where(n_out > 1, link["bw_x"], link["bw"])
    lat = np.where(n_out > 1, link["lat_x"], link["lat"]) / group
    direct = lat + nm1 / n * S / bw
    staged = nm1 * lat + nm1 / n * S / bw
    t = np.where((link["p2p"] > 0) & (n_out <= 1), direct, staged)
    return np.where(n > 1, t + sync_cost(n, c) / group, 0.0)


def p2p(S, cross_node, link, c):
    """Point-to-point send of S bytes to the next pipeline stage."""
    bw = np.where(cross_node, link["bw_x"], link["bw"])
    lat = np.where(cross_node, link["lat_x"], link["lat"])
    return lat + S / bw + c


def reduce_scatter(S, n, link, c, group=1.0):
    """Reduce-scatter of an S-byte tensor: the mirror image of all-gather, same cost."""
    return allgather(S, n, link, c, group)
