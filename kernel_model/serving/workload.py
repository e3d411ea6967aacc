"""Workloads: when requests arrive and how long their prompts and answers are.

    Workload(rate_rps=10, arrival="poisson", prompt=LogNormal(161, 120), output=338, requests=2000)
    Workload(arrival="gamma", cv=3.0, ...)          # bursty: gaps with coefficient of variation 3
    Workload(users=32, ...)                         # closed loop: 32 users, next request when
                                                    # their last one ends (rate_rps unused)
    Workload.from_csv("trace.csv")                  # arrival_s,prompt_tokens,output_tokens
                                                    # [,prefix_id,prefix_tokens]
    Workload.example("chat")                        # kernel_model/data/trace_chat.csv

Lengths are an int (fixed), ``Uniform(lo, hi)``, ``LogNormal(mean, sd)`` (of the tokens
themselves, not of their log), ``Empirical([...])`` (drawn with replacement) or a tuple
``("uniform", lo, hi)`` / ``("lognormal", mean, sd)`` / a list (empirical).
``sample()`` returns a :class:`~kernel_model.serving.entities.Trace`; the same seed gives the
same trace.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace, field
from pathlib import Path

import numpy as np

from .entities import Trace

ARRIVALS = ("poisson", "gamma", "constant")
DATA = Path(__file__).resolve().parent.parent / "data"
EXAMPLES = {"chat": "trace_chat.csv", "coding": "trace_coding.csv"}


def _pos(name, v, integer=False, zero=False):
    ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
    if ok and integer:
        ok = float(v) == int(v)
    if not ok or v < 0 or (v == 0 and not zero):
        kind = "a whole number" if integer else "a number"
        raise ValueError(f"{name}={v!r} is not allowed: must be {kind} "
                         f"{'>= 0' if zero else '> 0'}")
    return int(v) if integer else float(v)


@dataclass(frozen=True)
class Uniform:
    lo: int
    hi: int

    def draw(self, rng, n, name):
        lo, hi = _pos(f"{name}.lo", self.lo, True), _pos(f"{name}.hi", self.hi, True)
        if hi < lo:
            raise ValueError(f"{name}=Uniform({lo}, {hi}) is not allowed: hi < lo")
        return rng.integers(lo, hi + 1, n)


@dataclass(frozen=True)
class LogNormal:
    """Lognormal lengths with this mean and standard deviation (tokens), clipped to
    [lo, hi] and rounded."""
    mean: float
    sd: float
    lo: int = 1
    hi: int | None = None

    def draw(self, rng, n, name):
        mean, sd = _pos(f"{name}.mean", self.mean), _pos(f"{name}.sd", self.sd, zero=True)
        s2 = math.log(1.0 + (sd / mean) ** 2)
        x = rng.lognormal(math.log(mean) - s2 / 2.0, math.sqrt(s2), n)
        x = np.maximum(np.rint(x), self.lo)
        return (np.minimum(x, self.hi) if self.hi else x).astype(np.int64)


@dataclass(frozen=True)
class Empirical:
    values: tuple

    def draw(self, rng, n, name):
        v = np.asarray(self.values)
        if v.size == 0:
            raise ValueError(f"{name}=Empirical([]) is not allowed: needs at least one length")
        if not np.issubdtype(v.dtype, np.number) or (v < 1).any() or (v != np.rint(v)).any():
            raise ValueError(f"{name}: empirical lengths must be whole numbers >= 1")
        return rng.choice(v.astype(np.int64), n)


def lengths(spec, name):
    """The length distribution ``spec`` stands for (see the module docstring)."""
    if isinstance(spec, (Uniform, LogNormal, Empirical)):
        return spec
    if isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
        _pos(name, spec, True)
        return Empirical((int(spec),))
    if isinstance(spec, tuple) and spec and spec[0] in ("uniform", "lognormal"):
        return (Uniform if spec[0] == "uniform" else LogNormal)(*spec[1:])
    if isinstance(spec, (list, tuple, np.ndarray)):
        return Empirical(tuple(np.asarray(spec).tolist()))
    raise ValueError(f"{name}={spec!r} is not allowed: an int, Uniform(lo, hi), "
                     f"LogNormal(mean, sd), Empirical([...]) or a list of lengths")


@dataclass
class Workload:
    rate_rps: float = 1.0            # mean arrival rate (requests/s), open loop
    arrival: str = "poisson"         # one of ARRIVALS
    cv: float = 1.0                  # gamma arrivals: coefficient of variation of the gaps
    prompt: object = 200             # prompt length (tokens), see the module docstring
    output: object = 200             # output length (tokens)
    requests: int = 1000             # how many requests
    seed: int = 0
    users: int | None = None         # closed loop: concurrent users (rate_rps unused)
    think_s: float = 0.0             # closed loop: pause between a reply and the next request
    trace: Trace | None = field(default=None, repr=False)   # replayed as is (from_csv)

    def __post_init__(self):
        self.validate()

    def validate(self):
        if self.trace is not None:
            self.trace.validate()
            return
        if self.arrival not in ARRIVALS:
            raise ValueError(f"arrival={self.arrival!r} is not allowed: one of "
                             f"{', '.join(ARRIVALS)}")
        if self.users is None:
            _pos("rate_rps", self.rate_rps)
        else:
            _pos("users", self.users, True)
            _pos("think_s", self.think_s, zero=True)
        _pos("cv", self.cv)
        _pos("requests", self.requests, True)
        lengths(self.prompt, "prompt")
        lengths(self.output, "output")

    @property
    def closed_loop(self) -> bool:
        return self.users is not None and self.trace is None

    def with_rate(self, rate_rps: float) -> "Workload":
        """The same shape at another rate (a trace is stretched in time)."""
        _pos("rate_rps", rate_rps)
        if self.trace is not None:
            return replace(self, trace=self.trace.at_rate(rate_rps), rate_rps=rate_rps)
        return replace(self, rate_rps=float(rate_rps), users=None)

    def sample(self) -> Trace:
        """Arrival times and lengths (closed loop: arrivals are set by the simulation and
        the first ``users`` requests arrive at t = 0)."""
        if self.trace is not None:
            return self.trace
        rng = np.random.default_rng(self.seed)
        n = int(self.requests)
        prompt = lengths(self.prompt, "prompt").draw(rng, n, "prompt")
        output = lengths(self.output, "output").draw(rng, n, "output")
        if self.closed_loop:
            arrival = np.full(n, np.nan)
            arrival[:min(n, self.users)] = 0.0
        else:
            mean = 1.0 / self.rate_rps
            if self.arrival == "constant":
                gaps = np.full(n, mean)
            elif self.arrival == "poisson":
                gaps = rng.exponential(mean, n)
            else:
                k = 1.0 / self.cv ** 2
                gaps = rng.gamma(k, mean / k, n)
            arrival = np.cumsum(gaps) - gaps[0]
        return Trace(arrival, prompt, output)

    @classmethod
    def from_csv(cls, path, rate_rps: float | None = None) -> "Workload":
        """Replay a trace file: columns ``arrival_s,prompt_tokens,output_tokens`` and
        optionally ``prefix_id,prefix_tokens``; ``rate_rps`` stretches it to that rate."""
        trace = Trace.read_csv(path)
        w = cls(rate_rps=trace.rate_rps, requests=len(trace), trace=trace)
        return w.with_rate(rate_rps) if rate_rps else w

    @classmethod
    def example(cls, name: str, rate_rps: float | None = None) -> "Workload":
        """A shipped example trace: "chat" or "coding" (see kernel_model/data/README.md)."""
        if name not in EXAMPLES:
            raise ValueError(f"example={name!r} is not allowed: one of {', '.join(EXAMPLES)}")
        return cls.from_csv(DATA / EXAMPLES[name], rate_rps)

    def describe(self) -> str:
        if self.trace is not None:
            return f"trace of {len(self.trace)} requests at {self.trace.rate_rps:.3g} req/s"
        head = (f"{self.users} users" if self.closed_loop
                else f"{self.arrival} arrivals at {self.rate_rps:g} req/s")
        return f"{self.requests} requests, {head}, prompt {self.prompt}, output {self.output}"
