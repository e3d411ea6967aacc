"""Validate the collective model against published collective timings.

A collectives file (format of ``kernel_model/data/collectives.csv``, described in
``docs/INTERCONNECTS.md``) is recognised by its header (``collective`` and ``size_bytes``
columns). Each row is one measured collective; it is predicted with the same functions the
engine uses (``kernel_model.collectives``) on the interconnect preset that stands for the
measured system, chosen by documented rules (``preset_for``):

* PCIe without peer-to-peer (``p2p`` no or unknown: GeForce cards on the stock driver, or a
  path NCCL will not use for P2P) -> ``pcie4_bad`` (staged through host memory), any
  generation; with peer-to-peer -> ``pcie4_good`` (Gen3/4) or ``pcie5_good`` (Gen5), and
  ``pcie4_dual_socket`` / ``pcie5_bad`` when the GPUs sit on two CPU sockets;
* ``nvlink3`` -> ``nvlink``; ``nvlink4`` -> ``nvlink4`` (``nvlink_bridge`` where the notes say
  the GPUs are bridged pairs); ``nvlink5`` -> ``nvlink5`` (an NVL72 rack is one NVLink domain);
* network links (``ib_hdr``, ``ib_ndr``, ``roce``, ``efa``, ``tcp``) -> the preset of that
  name between nodes (``tcpxo`` where the notes name GPUDirect-TCPX/TCPXO); the link inside
  each node comes from the notes ("intra-node link: X");
* the ring crosses a CPU socket where the notes say the GPUs are on different / two sockets
  (``cross-socket``, ``dual-socket``); an optional ``cross_socket`` column (yes/no) wins;
* ``num_gpus`` missing: ``nodes`` x ``gpus_per_node`` (8 where not stated), noted per row;
* over PCIe, NCCL's settings (``nccl_settings``): a protocol or channel count the notes state,
  else, across the sockets of an AMD host without a graph XML or tuner, NCCL's default graph
  there (Simple protocol, 2 channels).

``algorithm``: ``nccl`` is NCCL's own choice (ring/tree, LL/Simple, NVLS where the switch
reduces; never custom kernels), ``ring``/``tree``/``nvls`` are forced, any other name is a
custom one-/two-shot kernel (``CUSTOM_KERNELS`` says which where the name does not). Rows
with only ``busbw_gbs`` get a time from it (``size / busbw x`` the bus factor); the targets
use rows that carry a time.
"""
from __future__ import annotations

import math
import re

import pandas as pd

from . import collectives as coll
from .hardware import get_interconnect, INTERCONNECTS, closest, COLLECTIVE_CONSTANTS
from .validate_links import link_key, link_spelling

REQUIRED = ("system", "gpu", "num_gpus", "nodes", "gpus_per_node", "link", "p2p",
            "collective", "algorithm", "size_bytes", "time_us", "busbw_gbs")
LINKS = {"pcie3": "pcie", "pcie4": "pcie", "pcie5": "pcie", "nvlink3": "nvlink",
         "nvlink4": "nvlink4", "nvlink5": "nvlink5", "ib_hdr": "ib_hdr", "ib_ndr": "ib_ndr",
         "roce": "roce", "efa": "efa", "tcp": "tcp"}
NETWORK = ("ib_hdr", "ib_ndr", "roce", "efa", "tcp")
COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv",
               "broadcast", "reduce")
# nccl-tests' binary names (all_reduce_perf, alltoall_perf, sendrecv_perf) and other spellings
COLLECTIVE_ALIASES = {"allreduce": "all_reduce", "allgather": "all_gather",
                      "reducescatter": "reduce_scatter", "alltoall": "all_to_all",
                      "sendrecv": "send_recv", "send/recv": "send_recv", "p2p": "send_recv",
                      "all2all": "all_to_all", "a2a": "all_to_all",
                      "bcast": "broadcast"}
# NCCL's own choice; RCCL (AMD's port of NCCL) also picks its own one-shot kernels and MSCCL
# algorithms for small and mid-size all-reduces on MI250X / MI300X (ROCm/rccl PR #929 "1-shot
# allreduce", PR #1088 "msccl algorithms tuning for allreduce on MI300"), so for ``rccl`` the
# one/two-shot kernels are candidates too
NCCL_ALGOS = {"nccl": "auto", "rccl": "auto", "ring": "ring", "tree": "tree", "nvls": "in_switch"}
WITH_DIRECT = ("rccl",)
BUS_FACTOR = {"all_reduce": lambda n: 2.0 * (n - 1) / n, "all_gather": lambda n: (n - 1) / n,
              "reduce_scatter": lambda n: (n - 1) / n, "all_to_all": lambda n: (n - 1) / n,
              "send_recv": lambda n: 1.0, "broadcast": lambda n: 1.0, "reduce": lambda n: 1.0}


def collective_name(text) -> str:
    """The collective a cell names: ``all_reduce``, or nccl-tests' ``all_reduce_perf``,
    ``allreduce``, ``AllReduce`` ...; "" where it names none."""
    c = re.sub(r"[-\s]+", "_", str(text).strip().lower())
    c = re.sub(r"_perf$", "", c)
    c = COLLECTIVE_ALIASES.get(c.replace("_", ""), c)
    return c if c in COLLECTIVES else ""


# custom kernels whose name does not say one- or two-shot, with the source that does
CUSTOM_KERNELS = {
    # lukealonso/sglang custom_ar: "luke's PCIe oneshot allreduce" (rtx6kpro
    # optimization/pcie-oneshot-allreduce.md); its time grows as (n-1) x size, as one-shot's
    "luke_custom_allreduce": "oneshot",
}
# GPUs on two CPU sockets, as notes say it (collectives rows here, measurement rows in
# validate_links.link_for)
SOCKET_RE = re.compile(r"different CPU sockets|2 CPU sockets|two (CPU )?sockets|cross[- ]socket|"
                       r"dual[- ]socket|topo(?:logy)?:\s*SYS\b", re.I)
INTRA_RE = re.compile(r"intra-node link:\s*(nvlink[345]?|pcie[345])", re.I)
DEFAULT_GPN = 8
MAX_RANKS = 1_000_000
MAX_BYTES = 2.0 ** 50           # 1 PiB: larger sizes are typos
# targets of issue 11, percent
TARGET_SYSTEM, TARGET_OVERALL, TARGET_FLOOR = 25.0, 25.0, 30.0
FLOOR_BYTES = 65536


def is_collectives(df: pd.DataFrame) -> bool:
    return "collective" in df.columns and "size_bytes" in df.columns


def _bad(path, line, col, value, allowed):
    return ValueError(f"{path}: line {line}: {col}={value!r} is not allowed ({allowed})")


_YES = ("yes", "y", "true", "enabled", "on", "1")
_NO = ("no", "n", "false", "disabled", "off", "0")


def _yes(v) -> str:
    """``yes`` / ``no`` / ``unknown`` from a cell (``true``, ``enabled``, ``off``, ... too)."""
    s = str(v).strip().lower()
    return "yes" if s in _YES else "no" if s in _NO else "unknown"


def link_name(text, gpu) -> tuple[str | None, str]:
    """(link, note) of a ``link`` cell: one of :data:`LINKS` (spelt with hyphens or spaces
    too), or an interconnect preset's name or alias (``infinity_fabric``, ``xgmi``,
    ``nvlink_bridge``, ``pcie4_bad`` ...: used as it is); a PCIe link without a generation
    (``pcie``, ``PCIe Gen5``) takes the one given, else the GPU's own (Gen5 for a GPU whose
    own link is a Gen5 preset, else Gen4). NVLink names follow the measurement files' rules
    (``validate_io``): a bare ``nvlink`` (or ``nvswitch``) is the GPU's own NVLink (NVLink 4
    on H100/H200/H20, 5 on B200/GB200, the bridge on H100 NVL, NVLink 3 otherwise), and a
    full part's NVLink on an 8-link board (``nvlink4`` on an H800) that board's own.
    ``(None, "")`` where the cell names no link."""
    from .validate_links import PCIE_LINK_RE, fewer_links_for, nvlink_for
    raw = str(text).strip()
    key = link_key(raw)
    why = ""
    if key in ("nvlink", "nvswitch"):
        own = nvlink_for("nvlink", gpu)[0]
        if own != "nvlink":                       # a later or narrower NVLink than NVLink 3
            return own, f"link {raw!r} read as {own} (the GPU's own NVLink)"
        key, why = "nvlink3", f"link {raw!r} read as nvlink3 (the GPU's own NVLink)"
    other = None if key in LINKS else link_spelling(key, gpu)
    if other:
        key, why = other, f"link {raw!r} read as {other}"
    if key in LINKS:
        fewer = fewer_links_for(LINKS[key], gpu) if LINKS[key].startswith("nvlink") else None
        if fewer:                                 # an H800 / A800 board: fewer NVLinks
            return fewer[0], f"link {raw!r} read as {fewer[0]} ({fewer[1]})"
        return key, why
    m = PCIE_LINK_RE.match(raw)
    if m:
        gen = m.group(1) or ("5" if _own_link(gpu).startswith("pcie5") else "4")
        return f"pcie{gen}", (f"link {raw!r} read as pcie{gen}"
                              + ("" if m.group(1) else " (the GPU's own generation)"))
    try:
        preset = get_interconnect(raw).name
    except ValueError:
        return None, ""
    return preset, ("" if preset == key else f"link {raw!r}: the {preset} preset")


def is_network(link: str) -> bool:
    """True for a link between nodes: a network link or a network preset (``tcpxo``)."""
    return link in NETWORK or (link in INTERCONNECTS and INTERCONNECTS[link].kind == "network")


def _gpu(name):
    """The GPU preset a row names, or None. A name several presets start with ("a100-pcie":
    40 or 80 GB) stands for them where they agree on what a collective reads (their usual
    link and their rate through host memory)."""
    from .hardware import get_gpu, GPUS
    try:
        return get_gpu(str(name))
    except ValueError:
        key = str(name).strip().lower()
        some = [g for n, g in GPUS.items() if key and n.startswith(key)]
        facts = {(g.native_link, g.host_staged_gbps) for g in some}
        return some[0] if len(facts) == 1 else None


def _own_link(gpu) -> str:
    g = _gpu(gpu)
    return g.native_link if g is not None else ""


def preset_for(link: str, p2p: str, notes: str, gpn: float, cross_socket: bool, own: str = ""):
    """(intra-node preset, network preset or None) standing for one measured system; ``own``
    (the GPU's own link preset) joins the GPUs of a node where the notes name no intra-node
    link."""
    notes = notes or ""
    if is_network(link):
        m = INTRA_RE.search(notes)
        intra = None
        if m and gpn > 1:
            intra = preset_for(m.group(1).lower(), "yes", "", gpn, cross_socket)[0]
        elif gpn > 1 and own:          # not stated: the GPU's own link joins a node's GPUs
            intra = own
        if link == "tcp" and re.search(r"TCPX", notes):
            link = "tcpxo"                   # GPUDirect-TCPX(O): NIC-offloaded, its own preset
        return intra, link
    if link not in LINKS:                    # an interconnect preset named as it is
        return link, None
    if link == "nvlink":                     # an older NVLink named without a generation
        return "nvlink", None
    if link.startswith("pcie"):
        if p2p != "yes":
            return "pcie4_bad", None
        if link == "pcie5":
            return ("pcie5_bad" if cross_socket else "pcie5_good"), None
        return ("pcie4_dual_socket" if cross_socket else "pcie4_good"), None
    if link == "nvlink4" and re.search(r"bridge", notes, re.I):
        return "nvlink_bridge", None
    return LINKS[link], None


PROTO_RE = re.compile(r"NCCL_PROTO=(LL128|LL|Simple)\b|\b(SIMPLE|LL128|LL) protocol\b", re.I)
CHANNELS_RE = re.compile(r"NCCL_MIN_NCHANNELS=(\d+)|\b(\d+) channels\b", re.I)
AMD_RE = re.compile(r"\bAMD\b|EPYC|Turin|Threadripper", re.I)
TUNED_RE = re.compile(r"(?<!no )graph XML|NCCL_GRAPH_FILE|tuner|NCCL_MIN_NCHANNELS", re.I)
PROTOS = {"ll": 1.0, "simple": 2.0}      # LL128 is NVLink's: over PCIe NCCL runs LL or Simple


def nccl_settings(notes: str, cross_socket: bool) -> dict:
    """NCCL settings of a measured row: what the notes state (``NCCL_PROTO`` / "LL protocol",
    "N channels" / ``NCCL_MIN_NCHANNELS``), else NCCL's own choice. One rule fills in what a
    row leaves unstated: across the sockets of an AMD host, NCCL's default topology graph
    (no graph XML, no tuner) prices the socket link at its ``AMD_BW`` constant and settles on
    2 channels and the Simple protocol (the rtx6kpro NCCL tuning page, NCCL 2.28 debug output).
    Returns ``proto`` (0 NCCL's choice, 1 LL, 2 Simple) and ``chan`` (0: no cap)."""
    notes = notes or ""
    m = PROTO_RE.search(notes)
    proto = PROTOS.get((m.group(1) or m.group(2)).lower(), 0.0) if m else 0.0
    m = CHANNELS_RE.search(notes)
    chan = float(m.group(1) or m.group(2)) if m else 0.0
    if cross_socket and AMD_RE.search(notes) and not TUNED_RE.search(notes):
        proto = proto or PROTOS["simple"]
        chan = chan or 2.0
    return {"proto": proto, "chan": chan}


def read_collectives(df: pd.DataFrame, path: str = "<data>") -> list[dict]:
    """Checked rows with the columns the prediction needs; raises ``ValueError`` naming the
    file, line and column for a malformed file."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} "
                         f"(a collectives file needs {', '.join(REQUIRED)})")
    if len(df) == 0:
        raise ValueError(f"{path}: no rows")
    rows, names = [], {}
    for i, r in enumerate(df.to_dict("records")):
        line = i + 2
        empty = pd.isna(r["link"]) or not str(r["link"]).strip()
        key = (str(r["link"]), str(r["gpu"]))
        if key not in names:                 # one lookup per (link, GPU) spelling in a file
            names[key] = (("", "") if empty else link_name(r["link"], r["gpu"]), _gpu(r["gpu"]))
        (link, why), spec = names[key]
        own = spec.native_link if spec is not None else ""
        if link is None:
            near = closest(str(r["link"]).strip().lower(), list(LINKS) + list(INTERCONNECTS))
            raise _bad(path, line, "link", r["link"], "one of " + ", ".join(LINKS)
                       + ", or an interconnect preset (" + ", ".join(INTERCONNECTS) + ")"
                       + (f"; closest: {', '.join(near)}" if near else ""))
        c = collective_name(r["collective"])
        if not c:
            raise _bad(path, line, "collective", r["collective"], "one of " + ", ".join(COLLECTIVES))
        size = _num(r["size_bytes"], path, line, "size_bytes")
        if size is None or size < 0 or size > MAX_BYTES:
            raise _bad(path, line, "size_bytes", r["size_bytes"], "a number of bytes from 0 to 2**50")
        t = _num(r["time_us"], path, line, "time_us")
        bw = _num(r["busbw_gbs"], path, line, "busbw_gbs")
        if (t is None or t <= 0) and (bw is None or bw <= 0):
            raise _bad(path, line, "time_us", r["time_us"],
                       "a time > 0, or a busbw_gbs > 0 (the row has neither)")
        counts = {}
        for col in ("num_gpus", "nodes", "gpus_per_node"):
            v = _num(r[col], path, line, col)
            if v is not None and (v < 1 or v != int(v) or v > MAX_RANKS):
                raise _bad(path, line, col, r[col], f"a whole number from 1 to {MAX_RANKS}, or empty")
            counts[col] = None if v is None else int(v)
        alg, alg_why = algorithm_name(r["algorithm"])
        if alg_why:
            why = f"{why}; {alg_why}" if why else alg_why
        rows.append(dict(r, link=link, link_note=why, own_link=own, gpu_spec=spec, collective=c,
                         size_bytes=size, time_us=t, busbw_gbs=bw,
                         algorithm=alg, p2p=_yes(r["p2p"]),
                         notes="" if pd.isna(r.get("notes", "")) else str(r.get("notes", "")),
                         **counts))
    return rows


# NCCL's own choice spelt otherwise, and NCCL algorithms the model does not tell apart
# (CollNet / SHARP, PAT, NVLS+tree): read as NCCL's own choice, the row's note says so
_NCCL_CHOICE = ("", "auto", "default", "nccldefault")
_NCCL_OTHER = ("collnet", "collnetdirect", "collnetchain", "pat", "nvlstree")


def algorithm_name(text) -> tuple[str, str]:
    """(algorithm, note) of an ``algorithm`` cell: ``nccl``, ``rccl``, ``ring``, ``tree``,
    ``nvls`` (spelt with any case, hyphens or spaces), NCCL's own choice for an empty cell,
    ``auto`` or ``default`` and for the NCCL algorithms not modelled apart (noted), and any
    other name as a custom kernel's, one-/two-shot spelt either way (``one-shot``)."""
    raw = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
    key = re.sub(r"[-_\s]+", "", raw.strip().lower())
    if key in _NCCL_CHOICE:
        return "nccl", ""
    if key in _NCCL_OTHER:
        return "nccl", f"algorithm {raw!r} read as NCCL's own choice (not modelled apart)"
    if key in NCCL_ALGOS:
        return key, ""
    name = raw.strip().lower()
    for spelt, kernel in (("oneshot", "oneshot"), ("twoshot", "twoshot")):
        if spelt in key and kernel not in name:
            name = f"{name} ({kernel})"
    return name, ""


def _num(v, path, line, col):
    if v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == "":
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise _bad(path, line, col, v, "a number") from None
    if not math.isfinite(x):
        raise _bad(path, line, col, v, "a finite number")
    return x


def _plan(r: dict):
    """(ranks, GPUs per node, note) of one row."""
    note = []
    nodes, gpn = r.get("nodes"), r.get("gpus_per_node")
    n = r.get("num_gpus")
    if n is None:
        g = gpn or DEFAULT_GPN
        n = (nodes or 1) * g
        note.append(f"num_gpus not stated: {nodes or 1} node(s) x {g} assumed")
    if gpn is None:
        gpn = n if (nodes is None or not is_network(r["link"])) else max(1, n // (nodes or 1))
    return n, gpn, note


def _link(intra: str | None, net: str | None, gpn: int, cross: bool, algorithm: str,
          nccl_only: bool, gpu=None) -> dict:
    from .simulate import link_params
    inner = get_interconnect(intra) if intra else get_interconnect(net)
    outer = get_interconnect(net) if net else get_interconnect("ib_ndr")
    L = link_params(gpu, inner, outer, algorithm, gpn if (net and intra) else (1 if net else gpn),
                    direct_max=0.0 if nccl_only else float("inf"))
    if net and not intra:                 # one GPU per node: the network is the only link
        L["gpn"] = 1.0
    if cross:
        L["socket"] = 1.0
    return L


def predict_row(r: dict) -> tuple[float, str, str, int]:
    """(predicted time in s, preset label, note, ranks) for one checked row."""
    n, gpn, note = _plan(r)
    if r.get("link_note"):
        note.append(r["link_note"])
    cross = bool(SOCKET_RE.search(r["notes"]))
    if "cross_socket" in r and str(r["cross_socket"]).lower() in ("yes", "no"):
        cross = str(r["cross_socket"]).lower() == "yes"
    own = r["own_link"]                      # read_collectives looked it up
    intra, net = preset_for(r["link"], r["p2p"], r["notes"], gpn, cross, own)
    if net and intra and intra == own and not INTRA_RE.search(r["notes"]):
        note.append(f"intra-node link not stated: the GPU's own ({own})")
    alg = r["algorithm"]
    custom = alg not in NCCL_ALGOS
    L = _link(intra, net, gpn, cross and not net, NCCL_ALGOS.get(alg, "auto"),
              not custom and alg not in WITH_DIRECT, r["gpu_spec"])
    if intra and intra.startswith("pcie"):
        L.update(nccl_settings(r["notes"], cross and not net))
    c = COLLECTIVE_CONSTANTS["eager_call_s"]
    S, coll_name = r["size_bytes"], r["collective"]
    if coll_name == "all_reduce":
        if custom:                   # a one-/two-shot kernel; the name says which, else the faster
            alg = CUSTOM_KERNELS.get(alg, alg)
            kinds = [3.0] if "oneshot" in alg else [4.0] if "twoshot" in alg else [3.0, 4.0]
            t = min(float(coll.allreduce_flat(S, n, dict(L, alg=k), k, c)) for k in kinds)
        else:
            t = float(coll.allreduce(S, n, L, c))
    elif coll_name in ("all_gather", "reduce_scatter"):
        t = float(coll.allgather(S, n, L, c))
    elif coll_name == "all_to_all":
        t = float(coll.alltoall(S, n, L, c))
    elif coll_name in ("broadcast", "reduce"):
        t = float(coll.broadcast(S, n, L, c))
    else:
        t = float(coll.p2p(S, net is not None and n > gpn, L, c))
    label = "+".join(p for p in (intra, net) if p) + (" cross-socket" if cross and not net else "")
    return t, label, "; ".join(note), n


def validate_collectives(df: pd.DataFrame, path: str = "<data>") -> pd.DataFrame:
    """One row per measurement: measured and predicted time (µs), bus bandwidth, error."""
    rows = read_collectives(df, path)
    out = []
    for r in rows:
        if not r["link"]:
            out.append(_row(r, None, "", "excluded", "link not named: the network is not one "
                            "of " + ", ".join(NETWORK), _plan(r)[0]))
            continue
        t, label, note, n = predict_row(r)
        out.append(_row(r, t, label, "ok", note, n))
    return pd.DataFrame(out)


def _row(r, t, label, status, note, nn):
    f = BUS_FACTOR[r["collective"]](nn) if nn > 1 else 1.0
    timed = r["time_us"] is not None and r["time_us"] > 0
    meas = r["time_us"] if timed else r["size_bytes"] * f / (r["busbw_gbs"] * 1e9) * 1e6
    pred = None if t is None else t * 1e6
    err = None if pred is None else (pred - meas) / meas * 100.0
    return {"id": r.get("id"), "system": r["system"], "gpu": r["gpu"], "link": r["link"],
            "p2p": r["p2p"], "preset": label, "num_gpus": nn, "collective": r["collective"],
            "algorithm": r["algorithm"], "size_bytes": int(r["size_bytes"]),
            "measured_us": meas, "predicted_us": pred,
            "measured_busbw": None if not meas else r["size_bytes"] * f / meas / 1e3,
            "predicted_busbw": None if not pred else r["size_bytes"] * f / pred / 1e3,
            "error_pct": err, "timed": timed, "status": status, "note": note}


def summarize(df: pd.DataFrame) -> dict:
    """Per-system and overall errors on rows with a time; the PCIe small-message floors."""
    ok = df[(df.status == "ok") & df.timed].copy()
    ok["abs"] = ok.error_pct.abs()
    per = ok.groupby("system").agg(rows=("abs", "size"), median_abs_pct=("abs", "median"),
                                   preset=("preset", "first"))
    floors = []
    pcie = ok[ok.link.str.startswith("pcie") & (ok.size_bytes <= FLOOR_BYTES)
              & (ok.collective == "all_reduce") & ok.algorithm.isin(list(NCCL_ALGOS))]
    for s, g in pcie.groupby("system"):
        m, p = g.measured_us.median(), g.predicted_us.median()
        floors.append({"system": s, "ranks": int(g.num_gpus.iloc[0]), "measured_us": m,
                       "predicted_us": p, "error_pct": (p - m) / m * 100.0})
    floors = pd.DataFrame(floors)
    return {"rows": int(len(df)), "timed_rows": int(len(ok)),
            "excluded": int((df.status != "ok").sum()),
            "overall_mape": float(ok["abs"].mean()) if len(ok) else float("nan"),
            "per_system": per, "floors": floors,
            "worst_system": float(per.median_abs_pct.max()) if len(per) else float("nan"),
            "worst_floor": float(floors.error_pct.abs().max()) if len(floors) else float("nan")}


def report(df: pd.DataFrame, summary: dict | None = None) -> str:
    s = summary or summarize(df)
    lines = [f"collectives: {s['rows']} rows, {s['timed_rows']} with a time, "
             f"{s['excluded']} excluded", "", "per system (median |error| on timed rows):"]
    for name, r in s["per_system"].sort_values("median_abs_pct").iterrows():
        mark = "ok" if r.median_abs_pct <= TARGET_SYSTEM else "MISS"
        lines.append(f"  {name:<44} {r.preset:<28} {r.rows:>3} rows  {r.median_abs_pct:6.1f} %  {mark}")
    lines += ["", "PCIe small-message floor (all-reduce <= 64 KiB, median):"]
    for _, r in s["floors"].iterrows():
        lines.append(f"  {r.system:<44} {r.ranks} GPUs  measured {r.measured_us:6.1f} us  "
                     f"predicted {r.predicted_us:6.1f} us  ({r.error_pct:+.0f} %)")
    per, fl = s["per_system"], s["floors"]
    met = int((per.median_abs_pct <= TARGET_SYSTEM).sum()) if len(per) else 0
    fl_met = int((fl.error_pct.abs() <= TARGET_FLOOR).sum()) if len(fl) else 0
    floor = (f"worst PCIe floor {s['worst_floor']:.1f} % (target {TARGET_FLOOR:.0f} %)"
             if len(fl) else "no PCIe small-message rows")
    lines += ["", f"overall MAPE {s['overall_mape']:.1f} % (target {TARGET_OVERALL:.0f} %); "
              f"worst system {s['worst_system']:.1f} % (target {TARGET_SYSTEM:.0f} %); " + floor,
              f"{met} of {len(per)} systems within {TARGET_SYSTEM:.0f} %; {fl_met} of {len(fl)} "
              f"PCIe floors within {TARGET_FLOOR:.0f} %"]
    ex = df[df.status != "ok"]
    for (sysname, why), g in ex.groupby(["system", "note"]):
        lines.append(f"excluded: {sysname} ({len(g)} rows): {why}")
    return "\n".join(lines)
