"""The things a serving simulation moves around: a trace of requests and the result."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens")
OPTIONAL = ("prefix_id", "prefix_tokens")


@dataclass
class Trace:
    """Requests in arrival order: arrival time (s, NaN = set by a closed loop), prompt and
    output lengths (tokens), and the shared prefix (id -1: none) each prompt starts with."""
    arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    prefix_id: np.ndarray | None = None
    prefix_tokens: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.arrival_s)
        self.arrival_s = np.asarray(self.arrival_s, dtype=float)
        self.prompt_tokens = np.asarray(self.prompt_tokens, dtype=np.int64)
        self.output_tokens = np.asarray(self.output_tokens, dtype=np.int64)
        if self.prefix_id is None:
            self.prefix_id = np.full(n, -1, dtype=np.int64)
        if self.prefix_tokens is None:
            self.prefix_tokens = np.zeros(n, dtype=np.int64)
        self.prefix_id = np.asarray(self.prefix_id, dtype=np.int64)
        self.prefix_tokens = np.asarray(self.prefix_tokens, dtype=np.int64)
        self.validate()

    def __len__(self):
        return len(self.arrival_s)

    def validate(self):
        n = len(self.arrival_s)
        if n == 0:
            raise ValueError("trace: no requests (empty); needs at least one row of "
                             + ",".join(COLUMNS))
        for name in COLUMNS[1:] + OPTIONAL:
            if len(getattr(self, name)) != n:
                raise ValueError(f"trace: {name} has {len(getattr(self, name))} values, "
                                 f"arrival_s has {n}")
        a = self.arrival_s[~np.isnan(self.arrival_s)]
        if (a < 0).any() or not np.isfinite(a).all():
            raise ValueError(f"trace: arrival_s must be finite and >= 0 "
                             f"(found {a[(a < 0) | ~np.isfinite(a)][0]!r})")
        if (np.diff(a) < 0).any():
            raise ValueError("trace: arrival_s must not decrease (sort the rows by arrival)")
        for name in COLUMNS[1:]:
            v = getattr(self, name)
            if (v < 1).any():
                raise ValueError(f"trace: {name} must be >= 1 (found {int(v[v < 1][0])})")
        bad = (self.prefix_tokens < 0) | (self.prefix_tokens > self.prompt_tokens)
        if bad.any():
            raise ValueError(f"trace: prefix_tokens must be in [0, prompt_tokens] "
                             f"(row {int(np.argmax(bad))})")

    @property
    def rate_rps(self) -> float:
        a = self.arrival_s[~np.isnan(self.arrival_s)]
        span = a[-1] - a[0] if len(a) > 1 else 0.0
        return (len(a) - 1) / span if span > 0 else float("inf")

    def at_rate(self, rate_rps: float) -> "Trace":
        """The same requests with arrival times scaled to a mean rate of ``rate_rps``."""
        old = self.rate_rps
        k = old / rate_rps if np.isfinite(old) else 0.0
        return Trace(self.arrival_s * k, self.prompt_tokens, self.output_tokens,
                     self.prefix_id, self.prefix_tokens)

    @classmethod
    def read_csv(cls, path) -> "Trace":
        import pandas as pd
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"trace: file {str(path)!r} not found")
        df = pd.read_csv(p)
        miss = [c for c in COLUMNS if c not in df.columns]
        if miss:
            raise ValueError(f"trace {p.name}: missing column(s) {', '.join(miss)} "
                             f"(needs {','.join(COLUMNS)}, optional {','.join(OPTIONAL)})")
        if len(df) == 0:
            raise ValueError(f"trace {p.name}: no requests (empty); needs at least one row")
        for c in COLUMNS + tuple(o for o in OPTIONAL if o in df.columns):
            if not pd.api.types.is_numeric_dtype(df[c]) or df[c].isna().any():
                raise ValueError(f"trace {p.name}: column {c} must be numbers without gaps")
        df = df.sort_values("arrival_s", kind="stable")
        extra = {o: df[o].to_numpy() for o in OPTIONAL if o in df.columns}
        return cls(df["arrival_s"].to_numpy(), df["prompt_tokens"].to_numpy(),
                   df["output_tokens"].to_numpy(), **extra)


STEP_COLUMNS = ("replica", "pool", "time_s", "decode_seqs", "prefill_tokens", "step_s",
                "kv_blocks_used", "waiting")


class StepLog:
    """The engine iterations, column by column (cheap to extend by runs of passes)."""

    def __init__(self):
        self.cols = {c: [] for c in STEP_COLUMNS}
        self._runs = []               # (replica, pool, decode_seqs, prefill_tokens, waiting, n)

    def extend(self, replica, pool, times, decode_seqs, prefill_tokens, step_s, kv_blocks,
               waiting):
        """A run of passes with the same replica / pool / batch / queue (lists of times)."""
        c = self.cols
        c["time_s"].extend(times)
        c["step_s"].extend(step_s)
        c["kv_blocks_used"].extend(kv_blocks)
        self._runs.append((replica, pool, decode_seqs, prefill_tokens, waiting, len(times)))

    def frame(self):
        import pandas as pd
        runs = np.array([r[5] for r in self._runs], dtype=np.int64)
        out = {}
        for j, name in ((0, "replica"), (1, "pool"), (2, "decode_seqs"), (3, "prefill_tokens"),
                        (4, "waiting")):
            vals = [r[j] for r in self._runs]
            out[name] = np.repeat(np.array(vals, dtype=object if j == 1 else np.int64), runs)
        for name in ("time_s", "step_s", "kv_blocks_used"):
            out[name] = np.array(self.cols[name], dtype=float)
        return pd.DataFrame({c: out[c] for c in STEP_COLUMNS})


@dataclass
class ServingResult:
    """What ``serve`` returns.

    ``requests``: one row per request (times in s): arrival_s, start_s (first scheduled),
    first_token_s, finish_s, ttft_s, tpot_s, e2e_s, queue_s (time spent waiting, also after
    a preemption), replica, prompt_tokens, output_tokens, preemptions, cached_tokens.
    ``steps``: one row per engine iteration: replica, pool, time_s (start), decode_seqs,
    prefill_tokens, step_s, kv_blocks_used, waiting.
    ``summary``: dict of throughput, percentiles, mean batch, KV use, preemptions, SLO.
    """
    requests: object
    steps: object
    summary: dict
    config: dict = field(default_factory=dict)

    def __repr__(self):
        s = self.summary
        return (f"ServingResult({s['requests']} requests, {s['throughput_rps']:.3g} req/s, "
                f"{s['output_tokens_per_s']:.4g} tok/s, TTFT p90 {s['ttft_p90_s'] * 1e3:.1f} ms, "
                f"TPOT p99 {s['tpot_p99_s'] * 1e3:.2f} ms, preemptions {s['preemptions']})")

    def to_dict(self) -> dict:
        return {"summary": dict(self.summary), "config": dict(self.config)}
