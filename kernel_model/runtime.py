"""Serving runtimes: the host side of a forward pass.

A decode step needs the token sampled by the step before it, so host work the GPU cannot
run ahead of lands on every step's critical path. Two kinds of runtime are modelled:

``compiled`` (the default)
    the step is replayed as a CUDA graph or issued from a C++ runtime, and the host
    prepares the next step while the GPU runs this one: no host time on the critical path
    beyond the per-kernel launch gaps (``launch_overhead_s``). TensorRT-LLM, FasterTransformer,
    LMDeploy TurboMind, NIM, vLLM, TGI from 2.0. (vLLM's eager mode, before 0.2.7 or with
    ``--enforce-eager``, adds about 1.5 ms per step on a 7B model, vllm PR #1440: inside the
    spread between frameworks, so it stays here.)
``eager_server``
    a Python model server that runs each step eagerly (no CUDA graphs) and round-trips
    between its router and the model shards for every token: each forward pass, prefill or
    decode step, adds ``eager_server_step_s`` seconds of host time (a calibration field,
    fitted on published measurements of such a server). Text Generation Inference before 2.0.

``runtime_for_framework`` maps the ``framework`` text of a measurements file (e.g.
``"HF TGI 1.0.3"``) to one of them by documented release facts; anything it does not
recognise is ``compiled``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .hardware import closest


@dataclass(frozen=True)
class Runtime:
    name: str
    host_per_pass: bool  # True: eager_server_step_s of host time per forward pass
    description: str


RUNTIMES = {
    "compiled": Runtime("compiled", False,
                        "CUDA graphs or a C++ runtime: host work overlaps the GPU "
                        "(TensorRT-LLM, FasterTransformer, TurboMind, NIM, vLLM, TGI >= 2.0)"),
    "eager_server": Runtime("eager_server", True,
                            "Python model server without CUDA graphs, a router <-> shard round "
                            "trip per token: eager_server_step_s of host time per forward pass "
                            "(TGI < 2.0)"),
}


def list_runtimes() -> list[str]:
    return list(RUNTIMES)


def get_runtime(name: str) -> Runtime:
    """The runtime called ``name``; ``ValueError`` naming the closest valid ones otherwise."""
    if isinstance(name, str) and name in RUNTIMES:
        return RUNTIMES[name]
    near = closest(str(name), RUNTIMES)
    raise ValueError(f"runtime={name!r} is not allowed"
                     + (f"; closest: {', '.join(near)}" if near else "")
                     + f" (valid: {', '.join(RUNTIMES)})")


_TGI = re.compile(r"\b(tgi|text[- ]generation[- ]inference)\b", re.I)
_TGI_FACT = ("TGI replays decode steps as CUDA graphs by default from 2.0 "
             "(text-generation-inference PR #1703)")
_VERSION = re.compile(r"\bv?(\d+)\.(\d+)(?:\.(\d+))?")


def runtime_for_framework(framework: str) -> tuple[str, str]:
    """(runtime name, reason) for a framework description such as ``"HF TGI 1.0.3"``."""
    text = str(framework or "")
    hit = _TGI.search(text)
    if hit:
        m = _VERSION.search(text[hit.end():])
        if not m:
            return "compiled", f"{_TGI_FACT}; no version given"
        version = tuple(int(g or 0) for g in m.groups())
        this = f"; this is {'.'.join(map(str, version))}"
        return ("eager_server" if version < (2, 0, 0) else "compiled"), _TGI_FACT + this
    return "compiled", "default: CUDA graphs / C++ runtime"
