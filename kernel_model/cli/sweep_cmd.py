"""``nexora --sweep``: a grid of scenarios through the vectorised engine, CSV on stdout."""
from __future__ import annotations

import re
import sys

from .common import BadInput, PROG, parse_list, flag_error, MAX_TOKENS, MAX_GBPS, MAX_NS
from .parser import DEFAULT_SWEEP_BW

_UNIT_US = {"ns": 1e-3, "us": 1.0, "µs": 1.0, "ms": 1e3, "s": 1e6}    # -> µs


def latencies_us(flag, text) -> list[float]:
    """Latencies for --sweep-lat: bare numbers are ns (the old tool's unit); a unit suffix
    (ns, us, µs, ms, s) is honoured. Returns µs (the sweep's link_latency_us axis)."""
    out = []
    for item in parse_list(flag, text, str):
        m = re.fullmatch(r"([0-9.eE+-]+)\s*(ns|us|µs|ms|s)?", item)
        try:
            v = float(m.group(1)) if m else float("nan")
        except ValueError:
            v = float("nan")
        if not m or not v == v or v < 0 or v == float("inf"):
            raise BadInput(f"{flag}: {item!r} is not allowed: must be a latency >= 0 in ns "
                           f"(or with a unit: 5us, 2ms)")
        us = v * _UNIT_US[m.group(2) or "ns"]
        if us > MAX_NS * 1e-3:
            raise BadInput(f"{flag}: {item!r} is not allowed: must be <= {MAX_NS:g} ns")
        out.append(us)
    return out


def _vary_value(field, text):
    from ..sweep import INT_FIELDS, BIT_FIELDS, LINK_AXES
    flag = f"--vary {field}"
    if field in INT_FIELDS or field in ("layers", "moe_experts", "active_experts"):
        return parse_list(flag, text, int, minimum=1, maximum=MAX_TOKENS)
    if field in BIT_FIELDS:
        return parse_list(flag, text, int, allowed=(4, 8, 16))
    if field == "overlap":
        vals = parse_list(flag, text, float, minimum=0.0)
        for v in vals:
            if v > 1:
                raise BadInput(f"{flag}: {v:g} is not allowed: must be in [0, 1]")
        return vals
    if field in LINK_AXES:
        return parse_list(flag, text, float, minimum=0.0, strict_min=field == "link_bw_gbps")
    if field == "flash_attention":
        out = []
        for x in parse_list(flag, text, str):
            if x.lower() not in ("true", "false", "1", "0"):
                raise BadInput(f"{flag}: {x!r} is not allowed: must be true or false")
            out.append(x.lower() in ("true", "1"))
        return out
    if field == "efficiency":
        raise BadInput("--vary efficiency is not supported on the command line; use kernel_model.sweep")
    return parse_list(flag, text, str)


def sweep_grid(a, kw):
    """The grid for --sweep: the scenario's fields as single values plus the swept axes."""
    from ..sweep import sweep_keys
    from ..hardware import closest
    grid = {k: [v] for k, v in kw.items()}
    any_axis = False
    if a.sweep_bw is not None:
        grid["link_bw_gbps"] = parse_list("--sweep-bw", a.sweep_bw, float, minimum=0.0,
                                          strict_min=True, maximum=MAX_GBPS)
        any_axis = True
    if a.sweep_lat is not None:
        grid["link_latency_us"] = latencies_us("--sweep-lat", a.sweep_lat)
        any_axis = True
    if a.sweep_ctx is not None:
        grid["prompt_tokens"] = parse_list("--sweep-ctx", a.sweep_ctx, int, minimum=1,
                                           maximum=MAX_TOKENS)
        if a.output_tokens is None:
            grid["output_tokens"] = [1]
        any_axis = True
    keys = sweep_keys()
    for item in a.vary:
        if "=" not in item:
            raise BadInput(f"--vary {item!r}: expected FIELD=V1,V2,... e.g. --vary tp=1,2,4")
        field, text = item.split("=", 1)
        field = field.strip().replace("-", "_")
        alias = {"batch_size": "batch", "bits": "comm_bits", "group": "comm_group",
                 "ctx_len": "prompt_tokens"}
        field = alias.get(field, field)
        if field not in keys:
            near = closest(field, keys)
            raise BadInput(f"--vary: field {field!r} is unknown"
                           + (f"; closest: {', '.join(near)}" if near else "")
                           + f" (valid: {', '.join(keys)})")
        grid[field] = _vary_value(field, text)
        any_axis = True
    if not any_axis:
        grid["link_bw_gbps"] = list(DEFAULT_SWEEP_BW)
    return grid


def run_sweep(a, kw, flags, notes=()) -> int:
    """Print the sweep; ``notes`` go to stderr once the lists are known to be valid."""
    from ..sweep import sweep
    from .legacy import emit
    grid = sweep_grid(a, kw)
    emit(notes)
    try:
        df = sweep(grid, invalid="mark", progress=None)
    except ValueError as e:
        raise BadInput(flag_error(e, flags)) from None
    if a.json or a.json_compat:
        from .common import dumps
        import json
        sys.stdout.write(dumps(json.loads(df.to_json(orient="records"))) + "\n")
    else:
        df.to_csv(sys.stdout, index=False)
    n_bad = df.attrs.get("invalid", 0)
    if n_bad:
        print(f"{PROG}: note: {n_bad} of {len(df)} combinations are invalid "
              f"(valid=False, reason in the error column)", file=sys.stderr)
    return 0

