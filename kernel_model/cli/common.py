"""Shared pieces of the ``nexora`` command: the bad-input exception, the argument parser
that turns argparse errors into one line, value types with documented bounds, lists, and
the resolution of ``--model`` / ``--preset`` / ``--interconnect`` / ``--gpu``."""
from __future__ import annotations

import argparse
import math
import os
import sys

PROG = "nexora"

# Documented upper bounds of the integer flags (--help lists them): the engine's own
# (kernel_model.rules), far above any real deployment, low enough that every number the
# engine derives stays finite.
from ..rules import INT_BOUNDS as _B, OPTIONAL_INT_BOUNDS as _O   # noqa: E402

MAX_GPUS = _B["tp"][1]                   # --tp, --pp, --ep, --gpus-per-node
MAX_BATCH = _B["batch"][1]               # --batch-size, --micro-batches
MAX_TOKENS = _B["prompt_tokens"][1]      # --prompt-tokens, --output-tokens, --ctx-len, --sweep-ctx
MAX_LAYERS = _O["layers"][1]             # --layers
MAX_EXPERTS = _O["moe_experts"][1]       # --moe-experts, --active-experts
MAX_GROUP = _B["comm_group"][1]          # --group, --max-group
from ..optimize import MAX_GPUS as MAX_NUM_GPUS                 # noqa: E402  (optimize --num-gpus)
MAX_GBPS = 1e6               # --bw-gbps, --memory-bw-gbps, --sweep-bw (GB/s)
MAX_NS = 1e12                # --latency-ns, --compute-ns, ... (ns)


class BadInput(Exception):
    """Bad command-line input: one line on stderr, exit 2."""


def note(text: str) -> None:
    """A one-line note on stderr (the run goes on)."""
    print(f"{PROG}: note: {text}", file=sys.stderr)


class Parser(argparse.ArgumentParser):
    """argparse with errors as :class:`BadInput` (one line, exit 2) and closest-flag hints."""

    subcommands: tuple = ()

    def error(self, message):
        if message.startswith("unrecognized arguments:"):
            from ..hardware import closest
            first = message.split(":", 1)[1].split()[0]
            if first.startswith("-"):
                opts = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
                near = closest(first.split("=", 1)[0], opts)
            else:
                near = closest(first, self.subcommands) if self.subcommands else []
            if near:
                message += f" (closest: {', '.join(near)}; see {self.prog} --help)"
        raise BadInput(message)


def make_parser(prog: str, description: str, epilog: str | None = None) -> Parser:
    """A parser for a ``nexora`` subcommand (what a registered subcommand should use)."""
    return Parser(prog=prog, allow_abbrev=False, description=description, epilog=epilog,
                  formatter_class=argparse.RawDescriptionHelpFormatter)


# ---- value types (argparse names the flag in the message) -----------------------------------
def typed(cast, ok, allowed):
    """An argparse type: ``cast`` the text, then check ``ok``; the message says what is allowed."""
    def convert(s):
        try:
            v = cast(s)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{s!r} is not allowed: must be {allowed}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"{s} is not allowed: must be {allowed}")
        return v
    return convert


def _int(s):
    s = str(s).strip()
    if len(s) > 20:                       # no 300-digit numbers through int()
        raise ValueError(s)
    return int(s)


def int_in(lo, hi):
    """Whole numbers in [lo, hi]."""
    return typed(_int, lambda v: lo <= v <= hi, f"a whole number >= {lo} and <= {hi:,}")


def float_in(lo, hi, unit="", lo_open=False):
    """Finite numbers in [lo, hi] (or (lo, hi] with ``lo_open``)."""
    rel = f"> {lo:g}" if lo_open else f">= {lo:g}"
    return typed(float, lambda v: math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi,
                 f"a number {rel} and <= {hi:g}{unit}")


pos_int = int_in(1, 2 ** 31 - 1)
fraction = typed(float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")
port = typed(_int, lambda v: 1 <= v <= 65535, "a port number 1..65535")
pos_ms = typed(float, lambda v: 0 < v < float("inf"), "a number of milliseconds > 0")


def parse_list(flag, text, kind, minimum=None, allowed=None, strict_min=False, maximum=None):
    """Comma-separated list for ``flag``; BadInput naming the flag on empty or bad items."""
    items = [x.strip() for x in str(text).split(",")]
    if not str(text).strip() or any(x == "" for x in items):
        raise BadInput(f"{flag} {text!r}: the list is empty or has an empty item; give "
                       f"comma-separated values, e.g. {flag} 1,2,4")
    out = []
    for x in items:
        try:
            v = (_int if kind is int else kind)(x)
        except (ValueError, OverflowError):
            what = "whole numbers" if kind is int else "numbers"
            raise BadInput(f"{flag}: {x!r} is not allowed: must be {what}") from None
        if kind is float and not math.isfinite(v):
            raise BadInput(f"{flag}: {x!r} is not allowed: must be a finite number")
        if allowed is not None and v not in allowed:
            raise BadInput(f"{flag}: {x} is not allowed: must be one of "
                           f"{', '.join(str(a) for a in allowed)}")
        if minimum is not None and (v < minimum or (strict_min and v <= minimum)):
            rel = ">" if strict_min else ">="
            raise BadInput(f"{flag}: {x} is not allowed: must be {rel} {minimum}")
        if maximum is not None and v > maximum:
            raise BadInput(f"{flag}: {x} is not allowed: must be <= {maximum:,}")
        out.append(v)
    return out


# ---- engine errors -> flags -------------------------------------------------------------------
# Scenario field -> the flag that sets it (to name the flag in error messages)
FIELD_FLAG = {"model": "--model", "gpu": "--gpu", "interconnect": "--interconnect",
              "tp": "--tp", "pp": "--pp", "ep": "--ep", "batch": "--batch-size",
              "prompt_tokens": "--prompt-tokens", "output_tokens": "--output-tokens",
              "weight_bits": "--weight-bits", "weight_format": "--weight-format",
              "kv_bits": "--kv-bits", "comm_bits": "--bits",
              "micro_batches": "--micro-batches", "overlap": "--overlap",
              "algorithm": "--algorithm", "comm_group": "--group", "layers": "--layers",
              "moe_experts": "--moe-experts", "active_experts": "--active-experts",
              "gpus_per_node": "--gpus-per-node", "inter_node": "--inter-node",
              "flash_attention": "--no-flash-attention", "runtime": "--runtime"}


def flag_error(e: Exception, override: dict | None = None) -> str:
    """Prefix an engine ValueError ("tp=3 does not ...") with the flag that set the field."""
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    head = msg.split(" ", 1)[0]
    field = head.split("=", 1)[0].strip() if "=" in head else None
    flags = dict(FIELD_FLAG, **(override or {}))
    if field in flags:
        return f"{flags[field]}: {msg}"
    return msg


# ---- --model / hardware -----------------------------------------------------------------------
def weight_format_for(model: str, weight_format: str, weight_bits) -> str:
    """The weight format a run uses: ``weight_format``; but where neither it nor the bits were
    given (``"auto"``, None), the format a ``--model`` config.json's quantization_config
    names, said in a note."""
    if weight_format != "auto" or weight_bits is not None:
        return weight_format
    if not (model.endswith(".json") or os.path.isdir(model)) or not os.path.exists(model):
        return weight_format                  # a preset name or a Hugging Face id
    from ..hf_config import config_format
    fmt = config_format(model)
    if not fmt:
        return weight_format
    note(f"--model: its quantization_config names {fmt}: weights in {fmt} "
         f"(--weight-format or --weight-bits overrides)")
    return fmt


def resolve_model(value: str, flag: str = "--model") -> str:
    """A preset name, or a config.json path (registered with the engine) -> model name.
    Paths must be regular files (or a folder holding config.json) under the size limit."""
    looks_path = value.endswith(".json") or os.sep in value or os.path.isdir(value)
    if not looks_path:
        return value
    if not value.endswith(".json") and not os.path.exists(value):
        from ..models import canonical_model       # a Hugging Face id: org/name of a preset
        canon = canonical_model(value)
        if canon is not None:
            return canon
    from .files import check_input_file, MAX_CONFIG_BYTES
    path = os.path.join(value, "config.json") if os.path.isdir(value) else value
    check_input_file(flag, path, MAX_CONFIG_BYTES,
                     "give a model preset name or the path of a Hugging Face config.json")
    try:
        from ..hf_config import model_from_hf_config
    except ImportError:
        raise BadInput(f"{flag}: reading a config.json needs kernel_model/hf_config.py, which "
                       "is missing from this installation") from None
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            spec = model_from_hf_config(value)
        except (ValueError, TypeError, OverflowError, RecursionError) as e:
            raise BadInput(f"{flag} {value!r}: {str(e).splitlines()[0] or type(e).__name__}") from None
    for w in caught:
        note(str(w.message).splitlines()[0])
    return spec.name


def resolve_hardware(preset, interconnect, gpu, flag="--preset"):
    """(interconnect, gpu, flag naming the link) following the old tool's --preset rules."""
    from ..hardware import get_interconnect, get_gpu, TYPICAL_GPU
    if preset and interconnect:
        raise BadInput(f"--preset {preset!r} and --interconnect {interconnect!r} both given; "
                       f"use one (--preset also picks a typical GPU, --interconnect does not)")
    if gpu is not None:
        try:
            gpu = get_gpu(gpu).name
        except ValueError as e:
            raise BadInput(f"--gpu: {e}") from None
    if preset:
        try:
            link = get_interconnect(preset).name
        except ValueError as e:
            raise BadInput(f"{flag}: {str(e).replace('interconnect=', 'preset=', 1)}") from None
        return link, gpu or TYPICAL_GPU.get(link, "a100-sxm-80gb"), flag
    if interconnect:
        if interconnect != "none":
            try:
                interconnect = get_interconnect(interconnect).name
            except ValueError as e:
                raise BadInput(f"--interconnect: {e}") from None
        return interconnect, gpu, "--interconnect"
    if gpu is not None:
        return get_gpu(gpu).native_link, gpu, "--gpu"
    return None, None, "--interconnect"


def dumps(obj) -> str:
    """JSON that is always valid: NaN / Infinity become a clear error, never output."""
    import json
    try:
        return json.dumps(obj, allow_nan=False, default=_jsonable)
    except ValueError:
        raise BadInput("the result is not a finite number (an input is too large for the model); "
                       "lower --prompt-tokens / --batch-size / --layers") from None


def _jsonable(x):
    if hasattr(x, "item"):
        return x.item()
    return str(x)
