"""Collective communication times (seconds), vectorised over numpy arrays.

Grounded in ~520 published nccl-tests timings (``kernel_model/data/collectives.csv``,
``nexora validate`` on it; ``docs/INTERCONNECTS.md`` says which measured systems each preset
stands for). The structure follows how NCCL runs a collective:

    time = call + steps * hop * protocol_latency + wire_bytes / (bus_bw * protocol_bw)

Conventions: ``S`` is the message size in bytes (the full tensor each rank holds for an
all-reduce; the gathered tensor for all-gather; the bytes one rank sends for all-to-all),
``n`` the ranks. ``link`` is a dict of arrays built by ``simulate.link_params``:

  bw, lat       intra-node bus bandwidth (B/s) a large ring reaches, and the latency of one
                ring step (s) with the low-latency (LL) protocol;
  host          1 where GPUs have no peer-to-peer access and NCCL stages every transfer
                through host memory (low bandwidth ceiling, modest latency);
  socket        1 where the ring crosses a CPU socket: the bandwidth is capped at
                ``socket_bw``; a host-staged hop across it pays ``socket_lat`` times the
                latency (the staging buffer sits in the other socket's memory; a ring step
                pays the mean over its n hops, 2 of which cross: ``_hop``), a P2P step over
                the socket link no more than inside a socket (fitted: 1.0, Turin xGMI);
  p2p, in_switch  one/two-shot kernels need peer-to-peer access; in-switch reduction (NVLS)
                needs an NVSwitch that reduces, reaching ``nvls_bw`` (B/s of payload);
  bw_x, lat_x   the network between nodes: bandwidth of the NIC share of one GPU (B/s) and
                the latency of one network step (s); ``gpn`` GPUs per node;
  ll_frac, simple_lat, simple_call   protocol constants (calibration): LL moves data at
                ``ll_frac`` of the bus bandwidth; the bandwidth (Simple) protocol pays
                ``simple_lat`` times the step latency and ``simple_call`` more per call;
  proto, chan, chan_bw   optional NCCL settings: a forced protocol (0 NCCL's choice, 1 LL,
                2 Simple) and a channel count (0: as many as the link needs) of ``chan_bw``
                B/s each.

Regimes: small messages are latency-bound (``call + steps * lat``: the floor grows with the
ranks, 2(n-1) ring steps); large ones bandwidth-bound at ``bw``. NCCL's own choice ("auto")
is the faster of LL and Simple on ring and tree. ``c`` is the fixed cost of one collective
call (launch, the wait for the slowest rank), shared by ``group`` coalesced collectives.

Algorithms (``ALGORITHMS`` codes):
  ring       2(n-1) steps, each rank sends 2(n-1)/n S: bandwidth-optimal;
  tree       inside a node a chain (the ring's steps and bytes, at a lower bandwidth);
             across nodes a double binary tree: 2 log2(nodes) network steps, and with two
             nodes each node's NICs send S, half the flat ring's 2(n-1)/n S;
  oneshot    custom kernel (vLLM / TensorRT-LLM / SGLang): 1 step, every rank reads the n-1
             other buffers, (n-1) S over its link; needs peer-to-peer access;
  twoshot    custom kernel: 2 steps (reduce-scatter + all-gather by direct writes);
  in_switch  NVLS / SHARP-style: the switch reduces, 2 steps of the Simple protocol (NVLS
             has no LL), S at ``nvls_bw``;
  auto       the fastest NCCL choice; custom one/two-shot only up to ``direct_max`` bytes
             and only with peer-to-peer access, as serving stacks do.
"""
from __future__ import annotations

from . import xp as np   # numpy, with a pure-float branch for one scenario

ALGORITHMS = {"auto": 0, "ring": 1, "tree": 2, "oneshot": 3, "twoshot": 4, "in_switch": 5}
INF = np.inf
TREE_BW = 0.85        # a double binary tree reaches this share of the ring's bus bandwidth


def _log2c(n):
    return np.ceil(np.log2(np.maximum(n, 1.0)))


def _hop(link, group, n=2.0):
    """Per-step latency (s) of the intra-node ring of ``n`` ranks with the LL protocol, socket
    included. A host-staged hop across the sockets costs ``socket_lat`` times the latency. A
    ring split over two sockets crosses them on 2 of its n hops, and a small message's
    steps run one after another along the ring (each rank forwards what it received), so a
    step costs the ring's mean hop: ((n - 2) + 2 socket_lat) / n times the latency; with
    two ranks every hop crosses. (An all-to-all waits for its slowest pair instead: n=2.)"""
    cross = (link.get("socket", 0.0) > 0) & (link.get("host", 0.0) > 0)
    share = np.minimum(2.0 / np.maximum(n, 2.0), 1.0)
    lat = link["lat"] * np.where(cross, 1.0 + share * (link.get("socket_lat", 1.0) - 1.0), 1.0)
    return lat / group


def _bus(link):
    """Large-message bus bandwidth (B/s) inside the node, capped when a socket is crossed."""
    cap = np.where(link.get("socket", 0.0) > 0, link.get("socket_bw", INF), INF)
    return np.minimum(link["bw"], cap)


def _simple(call, steps, hop, wire, bw, link, group):
    """Time of NCCL's Simple (bandwidth) protocol: ``simple_call`` more per call and
    ``simple_lat`` times the step latency, the bytes at the full bandwidth ``bw``."""
    return (call + link.get("simple_call", 0.0) / group
            + steps * hop * link.get("simple_lat", 1.0) + wire / bw)


def _protocols(call, steps, hop, wire, bw, link, group):
    """Time of NCCL's protocol: the faster of LL (low latency) and Simple (full bandwidth),
    or the one forced by ``proto`` (1 LL, 2 Simple: ``NCCL_PROTO``). ``chan`` > 0 caps the
    bus bandwidth at ``chan`` channels of ``chan_bw`` each (``NCCL_MIN_NCHANNELS``, or the
    2 channels of a poor topology graph)."""
    chan = link.get("chan", 0.0)
    bw = np.where(chan > 0, np.minimum(bw, chan * link.get("chan_bw", INF)), bw)
    ll = call + steps * hop + wire / (bw * link.get("ll_frac", 1.0))
    simple = _simple(call, steps, hop, wire, bw, link, group)
    proto = link.get("proto", 0.0)
    return np.where(proto == 1, ll, np.where(proto == 2, simple, np.minimum(ll, simple)))


def allreduce_flat(S, n, link, alg, call, group=1.0):
    """All-reduce among ``n`` ranks of one node (one link type), ``call`` included."""
    n = np.maximum(n, 1.0)
    nm1 = n - 1.0
    hop, bw = _hop(link, group, n), _bus(link)
    wire = 2.0 * nm1 / n * S
    ring = _protocols(call, 2.0 * nm1, hop, wire, bw, link, group)
    # inside one node NCCL's tree is a chain: as many steps as the ring, less bandwidth
    tree = _protocols(call, 2.0 * nm1, hop, wire, bw * TREE_BW, link, group)
    # custom kernels read / write peers' memory directly: one or two steps, no protocol
    # choice, at the share ``direct_frac`` of the bus bandwidth that n-1 concurrent peer
    # accesses reach
    # and at ``direct_call`` times NCCL's fixed cost per call (no proxy thread, no channel setup)
    bw_d = bw * link.get("direct_frac", 1.0)
    call_d = call * link.get("direct_call", 1.0)
    oneshot = call_d + hop + nm1 * S / bw_d
    twoshot = call_d + 2.0 * hop + wire / bw_d
    # NVLS runs the Simple protocol only (NCCL has no LL for it): its fixed cost is Simple's,
    # so NCCL keeps the LL ring for small messages and takes NVLS for large ones
    insw = _simple(call, 2.0, hop, S, link.get("nvls_bw", bw), link, group)
    direct = np.minimum(oneshot, twoshot)
    auto = np.minimum(ring, tree)
    auto = np.where((link["p2p"] > 0) & (S <= link.get("direct_max", INF)),
                    np.minimum(auto, direct), auto)
    auto = np.where(link["in_switch"] > 0, np.minimum(auto, insw), auto)
    t = np.select([alg == 1, alg == 2, alg == 3, alg == 4, alg == 5],
                  [ring, tree, oneshot, twoshot, insw], auto)
    return np.where(n > 1, t, 0.0)


def _net_hops(n, link, group):
    """Mean latency of one ring step across nodes: of the n ranks on the ring, ``nodes``
    steps cross the network (``lat_x``) and the rest stay inside a node."""
    gpn = np.maximum(np.minimum(n, link["gpn"]), 1.0)
    nodes = np.ceil(n / gpn)
    return ((n - nodes) * _hop(link, group) + nodes * link["lat_x"] / group) / n, gpn, nodes


def _net_allreduce(S, n, link, alg, call, group):
    """All-reduce across nodes. NCCL's ring is flat: all n ranks on one ring, so every link,
    a node's NICs included, carries 2(n-1)/n S, and ``nodes`` of the 2(n-1) steps cross
    the network. Its tree is a chain inside each node (each GPU sends S up and S down: 2S)
    and a double binary tree between nodes: with two nodes a node's NICs send S, half the
    ring's bytes; with more, an inner node sends 2S, no fewer than the ring. So "auto" takes
    the tree only between two nodes, where it is faster for large messages (2-node tables
    reach a bus bandwidth above the NICs' line rate); the 3-8 node tables follow the ring at
    every size."""
    hop, gpn, nodes = _net_hops(n, link, group)
    net = gpn * link["bw_x"]
    ring = _protocols(call, 2.0 * (n - 1.0), hop, 2.0 * (n - 1.0) / n * S,
                      np.minimum(_bus(link), net), link, group)
    per_node = np.where(nodes <= 2.0, 1.0, 2.0) * S
    chain = np.minimum(gpn - 1.0, 1.0)           # one GPU per node: no chain
    wire_t = np.maximum(2.0 * chain * S / _bus(link), per_node / net)
    bw_eff = np.where(wire_t > 0, S / np.maximum(wire_t, 1e-30), INF)
    tree_lat = 2.0 * _log2c(nodes) * link["lat_x"] / group + 2.0 * (gpn - 1.0) * _hop(link, group)
    tree = _protocols(call, 1.0, tree_lat, S, bw_eff * TREE_BW, link, group)
    # across nodes NCCL rates its tree's LL protocol low (a quarter of LL's bandwidth, and
    # a high network latency per tree level): for the tree "auto" weighs Simple only
    tree_s = _simple(call, 1.0, tree_lat, S, bw_eff * TREE_BW, link, group)
    auto = np.where((nodes <= 2.0) & (link.get("proto", 0.0) != 1), np.minimum(ring, tree_s), ring)
    return np.select([alg == 1, alg == 2], [ring, tree], auto)


def allreduce(S, n, link, c, group=1.0):
    """All-reduce of S bytes among n ranks; nodes of ``gpn`` GPUs joined by the network."""
    n = np.maximum(n, 1.0)
    call = c / group
    alg = link["alg"]
    multi = n > link["gpn"]
    t_in = allreduce_flat(S, n, link, alg, call, group)
    t_x = _net_allreduce(S, n, link, np.where(alg > 2, 0.0, alg), call, group)
    return np.where(n > 1, np.where(multi, t_x, t_in), 0.0)


def _tier(n, link, group, chain=True):
    """(crosses nodes?, step latency, bus bandwidth) of a collective among n ranks: inside a
    node the link's (a ring's mean hop where ``chain``, else the slowest pair's); across
    nodes the mixed ring step and the NIC share of the node."""
    multi = n > link["gpn"]
    hop_x, gpn, _ = _net_hops(n, link, group)
    hop = np.where(multi, hop_x, _hop(link, group, n if chain else 2.0))
    bw = np.where(multi, np.minimum(_bus(link), gpn * link["bw_x"]), _bus(link))
    return multi, hop, bw


def allgather(S, n, link, c, group=1.0):
    """All-gather (or reduce-scatter) of an S-byte result over n ranks: n-1 ring steps, each
    rank receives (n-1)/n S; one direct step where peers' memory is writable (custom kernels:
    forced, or chosen by "auto" up to ``direct_max`` bytes when faster)."""
    n = np.maximum(n, 1.0)
    nm1 = n - 1.0
    call = c / group
    multi, hop, bw = _tier(n, link, group)
    wire = nm1 / n * S
    ring = _protocols(call, nm1, hop, wire, bw, link, group)
    direct = call * link.get("direct_call", 1.0) + hop + wire / (bw * link.get("direct_frac", 1.0))
    alg = link["alg"]
    may = (link["p2p"] > 0) & ~multi
    t = np.where(may & (alg >= 3), direct, ring)
    t = np.where(may & (alg == 0) & (S <= link.get("direct_max", INF)), np.minimum(direct, ring), t)
    return np.where(n > 1, t, 0.0)


def alltoall(S, n, link, c, group=1.0):
    """All-to-all where each rank sends S bytes spread evenly over the n ranks: the n-1
    peer exchanges run concurrently, so latency is paid about once per log2 round. NCCL runs
    it as grouped send / receive pairs, one per peer, which cost ``a2a_call`` more per call
    than a collective of as many steps (measured on PCIe through host memory and on
    NVSwitch alike: ``hardware.COLLECTIVE_CONSTANTS``)."""
    n = np.maximum(n, 1.0)
    nm1 = n - 1.0
    call = (c + link.get("a2a_call", 0.0)) / group
    multi, hop, bw = _tier(n, link, group, chain=False)
    t = _protocols(call, np.maximum(_log2c(n), 1.0), hop, nm1 / n * S, bw, link, group)
    return np.where(n > 1, t, 0.0)


def broadcast(S, n, link, c, group=1.0):
    """Broadcast (or reduce) of S bytes from (to) one root over n ranks: NCCL pipelines the
    message along a ring, so n-1 steps of latency and every link carries S once
    (nccl-tests' bus bandwidth = algorithm bandwidth for these two)."""
    n = np.maximum(n, 1.0)
    multi, hop, bw = _tier(n, link, group)
    t = _protocols(c / group, n - 1.0, hop, S, bw, link, group)
    return np.where(n > 1, t, 0.0)


def p2p(S, cross_node, link, c):
    """Point-to-point send of S bytes to the next pipeline stage (one step)."""
    hop = np.where(cross_node, link["lat_x"], _hop(link, 1.0))
    bw = np.where(cross_node, link["bw_x"], _bus(link))
    return _protocols(c, 1.0, hop, S, bw, link, 1.0)


def reduce_scatter(S, n, link, c, group=1.0):
    """Reduce-scatter of an S-byte tensor: the mirror image of all-gather, same cost."""
    return allgather(S, n, link, c, group)


def regime(S, n, link, c):
    """("latency-bound", None) or ("bandwidth-bound", GB/s) for an all-reduce of S bytes:
    bandwidth-bound when moving the bytes takes longer than the fixed and per-step costs.
    The GB/s is the bus bandwidth (nccl-tests' ``busbw``: 2(n-1)/n S per unit of time) that
    the algorithm NCCL picks at this size reaches at the margin: the ring's link bandwidth,
    more where NVLS or the two-node tree moves fewer bytes, the NICs' share across nodes."""
    S, n = float(S), float(n)
    if n <= 1 or S <= 0:
        return "none", None
    t = float(allreduce(S, n, link, c))
    t0 = float(allreduce(0.0 * S, n, link, c))
    if t - t0 < t0:
        return "latency-bound", None
    dS = S * 1e-3
    dt = float(allreduce(S + dS, n, link, c)) - t
    return "bandwidth-bound", 2.0 * (n - 1.0) / n * dS / dt / 1e9
