"""The rules of a scenario, written once: per-field checks and the plan rules, vectorised.

Two kinds of rule:

* **field rules** (:func:`check_value`): a value that is bad whatever it is combined with
  (a tp of 0, ``flash_attention="false"``, an unknown model name). They return the value in
  its canonical Python type (numpy scalars become int / float / bool / str) or raise
  ``ValueError`` naming the field, the value and what is allowed (closest names for presets).
* **plan rules** (:func:`plan_codes`): combinations that are impossible (tp not dividing the
  heads, pp above the layers, ...). They run on numpy arrays broadcast over a sweep, or on
  Python numbers for one :class:`~kernel_model.Scenario` (the length-1 case of the same code),
  and give 0 (valid) or the number of the first rule broken; :func:`plan_message` words it.

Adding a string field (e.g. a weight format) is one entry in ``CHOICES`` (and, if it changes
the numbers, a row function in ``tables.TABLES``); a new plan rule is one entry in
``PLAN_RULES`` plus a line in :func:`plan_codes` and :func:`plan_message`.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .hardware import closest, get_gpu, get_interconnect
from .models import ModelSpec, get_model
from .runtime import get_runtime
from .formats import WEIGHT_FORMATS, get_format

ALGORITHMS = ("auto", "ring", "tree", "oneshot", "twoshot", "in_switch")
BITS = (4, 8, 16)

#: Whole-number fields: (smallest, largest) allowed value. The upper bounds are far above
#: any real deployment and keep every quantity finite (documented in the Scenario docstring).
INT_BOUNDS = {
    "tp": (1, 65_536), "pp": (1, 65_536), "ep": (1, 65_536), "gpus_per_node": (1, 65_536),
    "batch": (1, 1_048_576), "micro_batches": (1, 1_048_576),
    "prompt_tokens": (1, 10_000_000), "output_tokens": (1, 10_000_000),
    "comm_group": (1, 10_000),
}
#: Optional whole-number overrides (None = the model's own value).
OPTIONAL_INT_BOUNDS = {"layers": (1, 10_000), "moe_experts": (1, 65_536),
                       "active_experts": (1, 65_536)}
BIT_FIELDS = ("weight_bits", "kv_bits", "comm_bits")
#: Real fields: (low, high), both included.
REAL_BOUNDS = {"overlap": (0.0, 1.0)}
BOOL_FIELDS = ("flash_attention",)


def _inter_nodes():
    from .hardware import INTERCONNECTS
    return ("auto",) + tuple(n for n, i in INTERCONNECTS.items() if i.kind == "network")


#: String fields with a fixed list of values (functions give the list when asked).
CHOICES = {"algorithm": lambda: ALGORITHMS, "inter_node": _inter_nodes}
#: Largest number of scenario rows any one call may produce or a sweep may hold.
MAX_ROWS = 20_000_000


def _int(name, v, lo, hi, optional=False):
    if v.__class__ is int and lo <= v <= hi:          # the common case, fast
        return v
    if optional and v is None:
        return None
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        extra = " or None" if optional else ""
        raise ValueError(f"{name}={v!r} is not allowed: must be a whole number >= {lo} and <= {hi:,}{extra}")
    if not lo <= v <= hi:
        raise ValueError(f"{name}={v!r} is not allowed: must be a whole number >= {lo} and <= {hi:,}")
    return int(v)


def check_int(name, v, lo=1, hi=None):
    """``v`` as an int in [lo, hi] (``hi`` from INT_BOUNDS by default) or ValueError."""
    if hi is None:
        lo, hi = INT_BOUNDS.get(name, (lo, 2 ** 53))
    return _int(name, v, lo, hi)


def check_bool(name, v) -> bool:
    """Only True / False (numpy bools too): ``"false"`` or 0 would silently mean something."""
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{name}={v!r} is not allowed: must be True or False")
    return bool(v)


def check_real(name, v, lo, hi) -> float:
    if (isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real)
            or not math.isfinite(v) or not lo <= v <= hi):
        raise ValueError(f"{name}={v!r} is not allowed: must be a number in [{lo:g}, {hi:g}]")
    return float(v)


def check_choice(name, v, allowed) -> str:
    if not isinstance(v, str) or v not in allowed:
        near = closest(str(v), allowed)
        raise ValueError(f"{name}={v!r} is not allowed"
                         + (f"; closest: {', '.join(near)}" if near else "")
                         + f" (valid: {', '.join(allowed)})")
    return str(v)


_PLAIN = {"algorithm": ALGORITHMS, "runtime": ("compiled",), "weight_format": ("auto",),
          "inter_node": ("auto",)}


def check_value(name, v):
    """Field rule for Scenario field ``name``: the canonical value, or ValueError."""
    if v.__class__ is str and v in _PLAIN.get(name, ()):   # the common defaults, fast
        return v
    if name in INT_BOUNDS:
        return _int(name, v, *INT_BOUNDS[name])
    if name in OPTIONAL_INT_BOUNDS:
        return _int(name, v, *OPTIONAL_INT_BOUNDS[name], optional=True)
    if name in BIT_FIELDS:
        if v.__class__ is int and v in BITS:
            return v
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v not in BITS:
            raise ValueError(f"{name}={v!r} is not allowed: must be one of 4, 8, 16")
        return int(v)
    if name in REAL_BOUNDS:
        return check_real(name, v, *REAL_BOUNDS[name])
    if name in BOOL_FIELDS:
        return v if v.__class__ is bool else check_bool(name, v)
    if name in CHOICES:
        return check_choice(name, v, CHOICES[name]())
    if name == "runtime":                                # profiles and their aliases
        get_runtime(v)                                   # unknown: closest and valid names
        return str(v)
    if name == "weight_format":
        if not isinstance(v, str):
            raise ValueError(f"weight_format={v!r} is not allowed: must be one of "
                             f"{', '.join(WEIGHT_FORMATS)}")
        return "auto" if v == "auto" else get_format(v).name    # aliases: canonical names
    if name == "model":
        if isinstance(v, dict):
            v = ModelSpec.from_dict(v)
        if isinstance(v, ModelSpec):
            return v
        get_model(v)
        return str(v)
    if name == "gpu":
        get_gpu(v)
        return str(v)
    if name == "interconnect":
        if v != "none":
            get_interconnect(v)
        return str(v)
    if name == "efficiency":
        if v is None:
            return None
        if not isinstance(v, dict):
            raise ValueError(f"efficiency={v!r} is not allowed: must be a dict of calibration fields")
        from .calibration import DEFAULT
        v = _plain(dict(v))
        DEFAULT.replace(**v)
        return FrozenDict(v)
    raise ValueError(f"{name!r} is not a scenario field")


class FrozenDict(dict):
    """A dict that refuses changes (a Scenario's ``efficiency``): use ``replace()``."""

    def _refuse(self, *a, **kw):
        raise TypeError("a Scenario is immutable: use sc.replace(efficiency={...})")

    __setitem__ = __delitem__ = __ior__ = update = pop = popitem = clear = setdefault = _refuse

    def __reduce__(self):
        return (FrozenDict, (dict(self),))


def _plain(x):
    """numpy scalars as Python numbers (so that to_dict is JSON-ready); dicts recursively
    (as plain dicts)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, np.generic):
        return x.item()
    return x


def check_link_algorithm(algorithm, link) -> None:
    """In-switch reduction needs a switch that reduces: the plan rule ``in_switch`` for
    callers without a Scenario (gemm), same condition and words."""
    from .tables import ALG_CODES
    if _in_switch_bad(float(ALG_CODES[algorithm]), float(link.in_switch)):
        raise ValueError(_in_switch_words(link.name))


def _in_switch_bad(alg, in_switch):
    return (alg == 5) & (in_switch <= 0)


def _in_switch_words(interconnect) -> str:
    return (f"algorithm='in_switch' needs an NVSwitch with in-switch reduction "
            f"(nvlink4, nvlink5), not interconnect={interconnect!r}")


# ---- plan rules (vectorised) -------------------------------------------------------------------
#: Names of the plan rules in the order they are checked; code i+1 = rule i broken.
PLAN_RULES = ("format_bits", "top_k", "in_switch", "tp_heads", "tp_kv", "pp_layers", "ep_dense", "ep_experts",
              "ep_tp", "mb_batch", "none_multi")


def _mod(a, b):
    return np.fmod(a, b) if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) else a % b


def _where(c, a, b):
    if c.__class__ is bool:
        return a if c else b
    return np.where(c, a, b)


def plan_codes(T):
    """0 where a plan is valid, else 1 + the index in PLAN_RULES of the first rule broken.

    ``T`` maps names to numbers or arrays (broadcast together): plan fields ``tp pp ep batch
    micro_batches weight_bits``, ``fmt_bits`` (bits of an explicit weight format, else 0), model facts ``nh`` (heads) ``nkv`` (KV heads, 1 for MLA) ``L`` (layers)
    ``E`` (experts) ``k`` (experts per token), link facts ``in_switch`` (1.0 if the link
    reduces in the switch) ``none`` (1.0 for interconnect 'none') and ``alg`` (algorithm code).
    Python numbers give a Python int.
    """
    tp, pp, ep = T["tp"], T["pp"], T["ep"]
    big, small = _where(tp >= ep, tp, ep), _where(tp >= ep, ep, tp)
    moe = T["E"] > 1
    wbits = T["weight_bits"]
    conds = (
        (T["fmt_bits"] > 0) & (wbits != 16) & (wbits != T["fmt_bits"]),
        T["k"] > T["E"],
        _in_switch_bad(T["alg"], T["in_switch"]),
        _mod(T["nh"], tp) != 0,
        (_mod(T["nkv"], tp) != 0) & (_mod(tp, T["nkv"]) != 0),
        pp > T["L"],
        (ep > 1) & _not(moe),
        (ep > 1) & (_mod(T["E"], ep) != 0),
        (ep > 1) & (_mod(big, small) != 0),
        T["micro_batches"] > T["batch"],
        (big * pp > 1) & (T["none"] > 0),
    )
    if all(c.__class__ is bool for c in conds):
        return next((i + 1 for i, c in enumerate(conds) if c), 0)
    code = np.zeros(np.broadcast_shapes(*(np.shape(c) for c in conds)), dtype=np.int8)
    for i in range(len(conds) - 1, -1, -1):
        if np.any(conds[i]):
            code[np.broadcast_to(conds[i], code.shape)] = i + 1
    return code


def allowed(field: str, candidates, T: dict) -> list:
    """The ``candidates`` of plan field ``field`` that break no plan rule when the other
    fields are those of ``T`` (a scenario's tables): one vectorised check of all of them."""
    cands = list(candidates)
    if not cands:
        return []
    T2 = dict(T)
    T2[field] = np.asarray(cands, dtype=float)
    codes = np.broadcast_to(plan_codes(T2), (len(cands),))
    return [c for c, k in zip(cands, codes) if k == 0]


def _not(x):
    return (not x) if x.__class__ is bool else ~x


def plan_message(code: int, ctx: dict, row: dict | None = None) -> str:
    """Words for plan rule ``code``. ``ctx``: ``model`` (name) ``nh nkv L E k`` and
    ``interconnect`` (name); ``row``: the plan's own values (tp, pp, ...) when known, to name
    them and list what is allowed (a Scenario); without it the words fit every row of a
    sweep that breaks the rule there."""
    name, nh, nkv, L, E = ctx["model"], int(ctx["nh"]), int(ctx["nkv"]), int(ctx["L"]), int(ctx["E"])
    r = row or {}

    def v(field):
        return f"{field}={r[field]}" if field in r else field

    rule = PLAN_RULES[code - 1]
    if rule == "format_bits":
        if "weight_format" in r:
            b = int(ctx["fmt_bits"])
            return (f"weight_bits={r['weight_bits']} disagrees with weight_format="
                    f"{r['weight_format']!r} ({b}-bit): set weight_format='auto' or "
                    f"weight_bits={b}")
        return ("weight_bits disagrees with the explicit weight_format (its bits, or 16 to take "
                "them): set weight_format='auto' or the format's bits")
    if rule == "top_k":
        return (f"active_experts={int(ctx['k'])} is not allowed: more than the {E} experts")
    if rule == "in_switch":
        return _in_switch_words(ctx["interconnect"])
    if rule == "tp_heads":
        ok = [t for t in range(1, nh + 1) if nh % t == 0 and t <= INT_BOUNDS["tp"][1]][:24]
        return (f"{v('tp')} does not divide the {nh} attention heads of {name}; "
                f"allowed tp: {', '.join(map(str, ok))}")
    if rule == "tp_kv":
        return (f"{v('tp')} cannot shard the {nkv} KV heads of {name}: tp must divide {nkv} "
                f"or be a multiple of it")
    if rule == "pp_layers":
        return (f"{v('pp')} is not allowed: larger than the {L} layers of {name} "
                f"(allowed 1..{L})")
    if rule == "ep_dense":
        return f"{v('ep')} is not allowed: {name} has no experts (set moe_experts, or ep=1)"
    if rule == "ep_experts":
        return f"{v('ep')} does not divide the {E} experts of {name}"
    if rule == "ep_tp":
        return f"{v('ep')} and {v('tp')}: one must divide the other"
    if rule == "mb_batch":
        return f"{v('micro_batches')} is not allowed: larger than {v('batch')}"
    from .hardware import INTERCONNECTS
    gpus = f"; this plan uses {r['num_gpus']}" if "num_gpus" in r else ""
    return (f"interconnect='none' is only for one GPU{gpus} "
            f"(choose one of {', '.join(INTERCONNECTS)})")
