"""How a measurements row's ``interconnect`` names a link: a PCIe link by generation
(``pcie4``, ``PCIe 5.0``), a generic ``nvlink``, a China-market part's base NVLink, or a
multi-node run's network (``nvlink4+ib_ndr``, ``InfiniBand``), each resolved to an
interconnect preset with the reason, by documented rules (``validate_io.read_table`` applies
them; collectives rows share ``PCIE_LINK_RE`` and the NVLink rules)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

# ---- a PCIe link named by generation -> a preset -------------------------------------------
PCIE_LINK_RE = re.compile(r"^pcie[-_ ]?(?:gen)?([345])?(?:\.0)?(?:[-_ ]?x16)?$", re.I)
_NO_P2P = re.compile(r"\b(no|without|disabled?)[- ]p2p\b|\bp2p[: (]*(no|off|disabled|not "
                     r"supported)\b|host[- ]staged|through (the )?host", re.I)
_P2P = re.compile(r"\bp2p[: (]*(yes|on|enabled?)\b|\b(with|enabled?|via) p2p\b|"
                  r"\bp2p[- ](driver|kernel module)", re.I)


# a ring over more GPUs than one socket holds (SOCKET_GPUS of an 8-GPU server; of the server
# cards of hardware.SERVER_PCIE, SERVER_SOCKET_GPUS: two per socket in a balanced 4-GPU
# server), unless the notes keep the GPUs on one socket or behind PCIe switches
ONE_SOCKET_RE = re.compile(r"\b(single|one|1)[- ](cpu[- ])?socket\b|"
                           r"\b(behind|under|on|via|through) (a |the |one |two |pcie |gen ?[45] )*"
                           r"switch(es)?\b|\bplx\b|\bpex\d*|broadcom|\bPIX\b|\bPXB\b", re.I)
SOCKET_GPUS = 4
SERVER_SOCKET_GPUS = 2


def socket_gpus(gpu) -> int:
    """The most GPUs of kind ``gpu`` a PCIe ring keeps on one CPU socket, as the link rule
    reads a row: ``SERVER_SOCKET_GPUS`` (2) for the server cards of ``hardware.SERVER_PCIE``,
    else ``SOCKET_GPUS`` (4); an unknown GPU (the row's own error) gets the latter."""
    from .hardware import get_gpu, SERVER_PCIE
    try:
        name = get_gpu(gpu).name
    except ValueError:
        return SOCKET_GPUS
    return SERVER_SOCKET_GPUS if name in SERVER_PCIE else SOCKET_GPUS


def link_for(interconnect: str, gpu: str, notes: str, group: float = 1) -> tuple[str, str]:
    """(interconnect preset, reason) of a row whose ``interconnect`` names a PCIe link by
    generation (``pcie``, ``pcie4``, ``PCIe 5.0``, ``pcie_gen5``) rather than a preset; any
    other name is returned as it is, with no reason. The rules, as for collectives rows
    (``validate_collectives.preset_for``):

    * notes that say P2P is off ("no P2P", "P2P disabled", "p2p: no", "host-staged") ->
      ``pcie4_bad`` (staged through host memory, any generation);
    * notes that say P2P is on ("P2P enabled", "p2p: yes", "with P2P", a "P2P driver"), or
      else a GPU whose own link has P2P (datacenter and workstation cards) -> ``pcie5_good``
      for Gen5 (``pcie5_bad`` where the notes put the GPUs on two sockets), ``pcie4_good``
      for Gen3/4 (``pcie4_dual_socket`` on two sockets), and the card's own P2P preset
      where the generation is not given; a ring over more than ``SOCKET_GPUS`` (4) GPUs
      (``group``: the row's TP or EP size) is read as crossing two sockets unless the notes
      keep it on one socket or behind PCIe switches (``ONE_SOCKET_RE``): eight x16 cards take
      128 PCIe lanes, and the servers that carry eight PCIe GPUs have two sockets; for the
      server cards of ``hardware.SERVER_PCIE`` a ring over more than ``SERVER_SOCKET_GPUS``
      (2): their two-socket servers put two GPUs on each socket of a 4-GPU box;
    * else (GeForce cards: no P2P on the stock driver; cloud cards whose instances have none,
      ``hardware.NO_P2P``: A10G, L4) -> ``pcie4_bad``.
    "p2p: not stated" says nothing either way.

    ``nvlink`` (or ``nvlink3``) on a GPU whose own link is a later NVLink (``nvlink4`` on
    H100/H200, ``nvlink5`` on B200/GB200, ``nvlink_bridge`` on H100 NVL) is read as that
    link: a measured H100 board has no NVLink 3."""
    gen = NVLINK_GEN_RE.match(link_key(interconnect))
    if gen and str(interconnect).strip().lower() not in ("nvlink3", "nvlink4", "nvlink5"):
        named = "nvlink" if gen.group(1) == "3" else f"nvlink{gen.group(1)}"
        fewer = fewer_links_for(named, gpu)
        return (fewer or (named, f"{interconnect}: {named}"))
    if str(interconnect).strip().lower() in _NVLINK_GENERIC:
        if str(interconnect).strip().lower() == "nvswitch":   # the GPU's own NVLink, by switch
            link = nvlink_for("nvlink", gpu)[0]
            return link, f"{interconnect}: {link} (the GPU's own NVLink)"
        return nvlink_for(interconnect, gpu)
    fewer = fewer_links_for(interconnect, gpu)
    if fewer:
        return fewer
    m = PCIE_LINK_RE.match(str(interconnect).strip())
    if not m:
        return interconnect, ""
    notes = notes or ""
    if _NO_P2P.search(notes):
        return "pcie4_bad", f"{interconnect}: the notes say no P2P (staged through host memory)"
    if _P2P.search(notes):
        own, why = None, "the notes say P2P"
    else:
        from .hardware import get_gpu, get_interconnect
        try:
            g = get_gpu(gpu)
        except ValueError:
            return interconnect, ""         # the unknown GPU is the row's error
        if get_interconnect(g.native_link).host_staged:
            from .hardware import NO_P2P, GEFORCE_NO_P2P
            why = NO_P2P.get(g.name, GEFORCE_NO_P2P)
            return "pcie4_bad", (f"{interconnect}: {g.name} has no P2P ({why}; staged through "
                                 f"host memory)")
        own = g.native_link if g.native_link.startswith("pcie") else None
        why = f"{g.name} has P2P"
    from .validate_collectives import SOCKET_RE
    gen, two = m.group(1), bool(SOCKET_RE.search(notes))
    limit = socket_gpus(gpu)
    if not two and group > limit and not ONE_SOCKET_RE.search(notes):
        where = ("a server card's two-socket server (two GPUs per socket in a 4-GPU box)"
                 if limit < SOCKET_GPUS else "an 8-GPU server")
        two, why = True, (f"{why}; a ring of more than {limit} PCIe GPUs spans the two "
                          f"sockets of {where}")
    gen5 = gen == "5" or (gen is None and own and own.startswith("pcie5"))
    if two:
        return ("pcie5_bad" if gen5 else "pcie4_dual_socket"), f"{interconnect}: {why}"
    return ("pcie5_good" if gen5 else "pcie4_good"), f"{interconnect}: {why}"


_NVLINK_GENERIC = ("nvlink", "nvlink3", "nvswitch")


def link_key(name) -> str:
    """A link name as the spelling rules read it: lower case, hyphens and spaces as
    underscores (``NVLink 5`` -> ``nvlink_5``, ``InfiniBand NDR`` -> ``infiniband_ndr``)."""
    return re.sub(r"[-\s]+", "_", str(name).strip().lower())


# a link name in lower case, hyphens and spaces as underscores ("NVLink 5" -> "nvlink_5")
NVLINK_GEN_RE = re.compile(r"^nvlink_?([345])(?:\.0)?$")
_IB = re.compile(r"^(?:infiniband|ib)(?:_(hdr|ndr))?$|^(hdr|ndr)(?:_(?:infiniband|ib))?$")
_TCP = ("ethernet", "tcp_ip", "tcp/ip", "socket", "sockets")


def link_spelling(key: str, gpu) -> str | None:
    """The link name (``validate_collectives.LINKS``) that another common spelling stands
    for, ``key`` written as :func:`link_key` writes it, else None:
    ``NVLink 5`` / ``nvlink-4`` -> ``nvlink5`` / ``nvlink4``; ``InfiniBand NDR``, ``IB HDR``,
    ``NDR`` -> ``ib_ndr`` / ``ib_hdr``, and ``InfiniBand`` / ``IB`` without a generation the
    GPU's own (``hardware.inter_node_for``: HDR for Ampere, NDR after); ``RoCE v2`` ->
    ``roce``; plain ``Ethernet`` / sockets (no RDMA: NCCL's socket transport) -> ``tcp``."""
    m = NVLINK_GEN_RE.match(key)
    if m:
        return f"nvlink{m.group(1)}"
    m = _IB.match(key)
    if m:
        gen = m.group(1) or m.group(2)
        if gen:
            return f"ib_{gen}"
        from .hardware import get_gpu, inter_node_for
        try:
            return inter_node_for(get_gpu(str(gpu))).name
        except ValueError:
            return "ib_ndr"
    if re.match(r"^roce_?v?2?$", key):
        return "roce"
    return "tcp" if key in _TCP else None




def fewer_links_for(link: str, gpu: str) -> tuple[str, str] | None:
    """(the GPU's own preset, reason) where ``link`` names the full-link preset that the
    GPU's own link is a fewer-link variant of (``nvlink4`` on an H800 -> ``nvlink4_h800``:
    a measured H800 board has 8 NVLinks, not 18); else None."""
    from .hardware import FEWER_LINKS, get_gpu, get_interconnect
    try:
        g, named = get_gpu(gpu), get_interconnect(link).name
    except ValueError:
        return None
    if FEWER_LINKS.get(g.native_link, ("",))[0] == named:
        return g.native_link, f"{link}: {g.name} has {FEWER_LINKS[g.native_link][1]} NVLinks"
    return None


def nvlink_for(interconnect: str, gpu: str) -> tuple[str, str]:
    """(preset, reason) of a generic NVLink name on ``gpu``: the GPU's own link where that is
    an NVLink other than NVLink 3 (``nvlink4``, ``nvlink5``, ``nvlink_bridge``, the 8-link
    H800 / A800 presets), else ``interconnect`` as it is, with no reason."""
    from .hardware import get_gpu
    try:
        g = get_gpu(gpu)
    except ValueError:
        return interconnect, ""
    if g.native_link.startswith("nvlink") and g.native_link != "nvlink":
        return g.native_link, f"{interconnect}: {g.name}'s NVLink is {g.native_link}"
    return interconnect, ""


NETWORK_LINKS = ("ib_hdr", "ib_ndr", "roce", "efa", "tcp", "tcpxo")


def network_split(interconnect: str, gpu: str, notes: str, num_gpus: float,
                  gpus_per_node: int = 8) -> tuple[str, str]:
    """(``intra+inter`` or the name as it is, reason) for a row that names the network of a
    multi-node run: ``nvlink4+ib_ndr`` / ``nvlink4 + InfiniBand`` (the link inside each node,
    then the network; a generic intra-node name resolves as :func:`link_for` says), or only
    the network (``ib_ndr``, ``InfiniBand``) on more GPUs than one node holds, whose nodes
    then use the GPU's own link. ``InfiniBand`` / ``IB`` without a generation is the
    engine's default for the GPU (HDR for Ampere, NDR after)."""
    text = str(interconnect).strip()
    parts = [p.strip() for p in text.split("+")]
    if len(parts) > 2 or not all(parts):
        return text, ""

    if len(parts) == 2:
        inter = network_of(parts[1], gpu)
        if inter is None:
            return text, ""
        intra, why = link_for(parts[0], gpu, notes)
        from .hardware import get_interconnect
        try:
            intra = get_interconnect(intra).name        # "NVLink4" -> "nvlink4"
        except ValueError:
            pass                                         # an unknown link is the row's error
        reason = f"{text}: {intra} inside each node, {inter} between nodes"
        return f"{intra}+{inter}", (f"{why}; {reason}" if why else reason)
    inter = network_of(text, gpu)
    if inter is None or not num_gpus > gpus_per_node:
        return text, ""
    from .hardware import get_gpu
    try:
        intra = get_gpu(gpu).native_link
    except ValueError:
        return text, ""                    # the unknown GPU is the row's error
    return f"{intra}+{inter}", (f"{text} on {int(num_gpus)} GPUs: the network between "
                                f"{gpus_per_node}-GPU nodes, {intra} (the GPU's own) inside them")


def network_of(name: str, gpu: str) -> str | None:
    """The network preset a name spells (``ib_ndr``, ``InfiniBand NDR``, ``IB``, ``RoCE v2``,
    ``Ethernet``: :func:`link_spelling`), or None. ``InfiniBand`` without a generation is
    the GPU's default."""
    key = link_key(name)
    other = key if key in NETWORK_LINKS else link_spelling(key, gpu)
    return other if other in NETWORK_LINKS else None


def _multi_node(df, inf, num, notes, link_note) -> None:
    """Rewrite rows that name a multi-node run's network (:func:`network_split`) in place."""
    if not inf.any():
        return
    ic = df["interconnect"].astype(str)
    codes, uniq = pd.factorize(ic)                  # a handful of names over many rows
    named = np.array(["+" in u or network_of(u, "") is not None for u in uniq], dtype=bool)
    cand = inf & (codes >= 0) & named[np.maximum(codes, 0)]
    for i in np.flatnonzero(cand):
        name, why = network_split(ic.iat[i], df["gpu"].iat[i], notes[i], num["num_gpus"][i])
        if why:
            df.iat[i, df.columns.get_loc("interconnect")] = name
            link_note[i] = f"{link_note[i]}; {why}" if link_note[i] else why


def _links(df, inf, notes, num) -> np.ndarray:
    """Resolve generic link names (:func:`link_for`) in place; the reason per row. ``num``:
    the rows' parsed numbers (``tp`` and ``ep`` give the ring's size)."""
    out = np.full(len(df), "", dtype=object)
    if not inf.any():
        return out
    ic = df["interconnect"].to_numpy(dtype=object)
    text = df["interconnect"].astype(str).str.strip()
    from .hardware import FEWER_LINKS
    bases = {base for base, *_ in FEWER_LINKS.values()}
    spelt = text.str.lower().str.replace(r"[-\s]+", "_", regex=True)
    generic = text.str.match(PCIE_LINK_RE.pattern, case=False) \
        | text.str.lower().isin(_NVLINK_GENERIC) | text.str.lower().isin(bases) \
        | (spelt.str.match(NVLINK_GEN_RE.pattern) & ~text.str.lower().isin(bases))
    rows = np.flatnonzero(inf & generic.to_numpy(dtype=bool))
    if not len(rows):
        return out
    # the ring (the row's TP or EP group) > the GPUs one socket holds (socket_gpus)
    gpus = pd.Series(df["gpu"].to_numpy(dtype=object)[rows]).astype(str)
    gcodes, guniq = pd.factorize(gpus)
    limit = np.array([socket_gpus(g) for g in guniq], dtype=np.int64)[gcodes]
    big = np.zeros(len(rows), dtype=np.int64)
    for c in ("tp", "ep"):
        big |= np.asarray(num[c])[rows] > limit
    key = pd.Series(ic[rows]).astype(str) + "\0" + gpus + "\0" + pd.Series(notes[rows]).astype(str)
    codes, uniq = pd.factorize(key)
    codes, combos = pd.factorize(2 * codes + big)   # the rule reads the ring's size as one bit
    pairs = []
    for c in combos:
        name, gpu, text = uniq[c // 2].split("\0")
        # a ring over SOCKET_GPUS exceeds every GPU's socket_gpus: link_for reads it as big
        pairs.append(link_for(name, gpu, text, SOCKET_GPUS + 1 if c % 2 else 1))
    ic = ic.copy()
    ic[rows] = np.array([p[0] for p in pairs], dtype=object)[codes]
    out[rows] = np.array([p[1] for p in pairs], dtype=object)[codes]
    df["interconnect"] = ic
    return out
