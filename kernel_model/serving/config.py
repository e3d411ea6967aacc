"""Serving options, SLOs, and the KV-cache capacity the memory model leaves."""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, asdict

import numpy as np

from .. import memory
from ..hardware import closest

SCHEDULERS = ("continuous", "chunked", "static")
ADMISSIONS = ("optimistic", "reserve")
BLOCK_TOKENS = 16                 # tokens per paged KV block (vLLM's default)
WATERMARK = 0.01                  # share of the blocks admission leaves free for decode growth
# SLO keys: <metric>_p<percentile>_s, metric in ttft / tpot / e2e
SLO_METRICS = ("ttft", "tpot", "e2e")
DEFAULT_SLO = {"ttft_p90_s": 1.0, "tpot_p99_s": 0.05}


def _whole(name, v, lo=1):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
        raise ValueError(f"{name}={v!r} is not allowed: must be a whole number >= {lo}")
    return int(v)


@dataclass
class ServeConfig:
    scheduler: str = "continuous"     # one of SCHEDULERS
    max_batch: int = 256              # sequences in flight per replica (vLLM max_num_seqs)
    max_batched_tokens: int = 8192    # tokens per pass (vLLM max_num_batched_tokens)
    replicas: int = 1                 # copies of the scenario's plan, requests round-robin
    kv_cache_fraction: float = 0.9    # share of GPU memory for weights + activations + KV
    # (for a runtime with kv_of_free, TensorRT-LLM's PyTorch backend: the share of what the
    # weights and activations leave that goes to the KV cache)
    prefix_cache: bool = False        # a request whose prefix_id was seen skips its prefill
    disaggregated: tuple | None = None  # (prefill_gpus, decode_gpus)
    admission: str = "optimistic"     # one of ADMISSIONS (see engine)

    def __post_init__(self):
        if self.scheduler not in SCHEDULERS:
            near = closest(str(self.scheduler), SCHEDULERS)
            raise ValueError(f"scheduler={self.scheduler!r} is not allowed"
                             + (f"; closest: {', '.join(near)}" if near else "")
                             + f" (valid: {', '.join(SCHEDULERS)})")
        if self.admission not in ADMISSIONS:
            raise ValueError(f"admission={self.admission!r} is not allowed: one of "
                             f"{', '.join(ADMISSIONS)}")
        self.max_batch = _whole("max_batch", self.max_batch)
        self.max_batched_tokens = _whole("max_batched_tokens", self.max_batched_tokens)
        self.replicas = _whole("replicas", self.replicas)
        f = self.kv_cache_fraction
        if isinstance(f, bool) or not isinstance(f, numbers.Real) or not 0 < f <= 1:
            raise ValueError(f"kv_cache_fraction={f!r} is not allowed: must be in (0, 1]")
        if self.disaggregated is not None:
            d = self.disaggregated
            if not isinstance(d, (tuple, list)) or len(d) != 2:
                raise ValueError(f"disaggregated={d!r} is not allowed: (prefill_gpus, "
                                 f"decode_gpus) or None")
            self.disaggregated = (_whole("disaggregated[0] (prefill_gpus)", d[0]),
                                  _whole("disaggregated[1] (decode_gpus)", d[1]))

    def to_dict(self):
        return asdict(self)


def parse_slo(slo) -> dict:
    """``{"ttft_p90_s": 1.0, "tpot_p99_s": 0.05}`` or ``"ttft_p90=1,tpot_p99=0.05"`` ->
    {key: limit (s)}; ValueError naming the key otherwise."""
    if slo is None:
        return {}
    if isinstance(slo, str):
        out = {}
        for part in filter(None, (p.strip() for p in slo.split(","))):
            if "=" not in part:
                raise ValueError(f"slo item {part!r} is not allowed: write metric_pNN=seconds, "
                                 f"e.g. ttft_p90=1")
            k, v = part.split("=", 1)
            try:
                out[k.strip()] = float(v)
            except ValueError:
                raise ValueError(f"slo {k.strip()}={v!r} is not allowed: must be a number "
                                 f"of seconds") from None
        slo = out
    if not isinstance(slo, dict):
        raise ValueError(f"slo={slo!r} is not allowed: a dict or 'ttft_p90=1,tpot_p99=0.05'")
    res = {}
    for k, v in slo.items():
        key = k if k.endswith("_s") else k + "_s"
        parts = key[:-2].split("_p")
        ok = (len(parts) == 2 and parts[0] in SLO_METRICS and parts[1].isdigit()
              and 0 < int(parts[1]) <= 100)
        if not ok:
            raise ValueError(f"slo key {k!r} is not allowed: <metric>_p<NN>[_s], metric one "
                             f"of {', '.join(SLO_METRICS)}, e.g. ttft_p90_s")
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v > 0 \
                or not math.isfinite(v):
            raise ValueError(f"slo {k}={v!r} is not allowed: must be seconds > 0")
        res[key] = float(v)
    return res


def kv_capacity_tokens(P, fraction, pass_tokens):
    """Tokens of KV cache one replica holds: ``fraction`` of each GPU's memory less the
    weights and the activations of a pass of ``pass_tokens`` tokens (memory.per_gpu), or,
    for a runtime that sizes it from what is left (``kv_of_free``: TensorRT-LLM's PyTorch
    backend), ``fraction`` of the memory left after them; divided by one token's KV on one
    GPU (times the attention replicas of an EP plan). Returns (tokens, details in bytes)."""
    Q = dict(P, B=1.0, m=1.0, p=float(pass_tokens), o=0.0)
    mem = memory.per_gpu(Q)
    used = float(mem["weights"]) + float(mem["activations"])
    free = (fraction * max(P["cap"] - used, 0.0) if P.get("kv_of_free", 0.0) > 0
            else fraction * P["cap"] - used)
    kvfrac = max(1.0 / P["tp"], 1.0 / P["kv_groups"])
    per_token = math.ceil(P["L"] / P["pp"]) * P["kv_elems"] * kvfrac * P["kvb"]
    dp = P["gps"] / P["tp"]
    tokens = max(free, 0.0) / per_token * dp
    return tokens, {"weights": float(mem["weights"]), "activations": float(mem["activations"]),
                    "kv_free": free, "kv_bytes_per_token": per_token}


def as_float_params(P):
    return {k: (float(np.asarray(v)) if k != "link" else v) for k, v in P.items()}
