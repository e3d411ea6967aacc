"""Serving runtimes: the host side of a forward pass.

A decode step needs the token sampled by the step before it, so host work the GPU cannot
run ahead of lands on every step's critical path. Two kinds of runtime are modelled:

``compiled`` (the default)
    the step is replayed as a CUDA graph or issued from a C++ runtime, and the host
    prepares the next step while the GPU runs this one: no host time on the critical path
    beyond the per-kernel launch gaps (``launch_overhead_s``). TensorRT-LLM, FasterTransformer,
    LMDeploy TurboMind, NIM, vLLM from 0.2.7, TGI from 2.0.
``eager``
    the step is issued op by op from Python (PyTorch eager) and the server round-trips
    through Python for every token (router <-> shard RPC, sampling, detokenising): each
    forward pass, prefill or decode step, adds ``eager_step_overhead_s`` seconds of host
    time (a calibration field, fitted on published measurements of such a stack).
    Hugging Face ``transformers`` ``generate``, TGI before 2.0, vLLM before 0.2.7 or with
    ``--enforce-eager``.

``runtime_for_framework`` maps the ``framework`` text of a measurements file (e.g.
``"HF TGI 1.0.3"``) to one of them by these documented release facts; anything it does
not recognise is ``compiled``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .hardware import closest


@dataclass(frozen=True)
class Runtime:
    name: str
    eager: bool          # True: eager_step_overhead_s of host time per forward pass
    description: str


RUNTIMES = {
    "compiled": Runtime("compiled", False,
                        "CUDA graphs or a C++ runtime: host work overlaps the GPU "
                        "(TensorRT-LLM, FasterTransformer, TurboMind, NIM, vLLM >= 0.2.7, TGI >= 2.0)"),
    "eager": Runtime("eager", True,
                     "PyTorch eager, a Python round trip per token: eager_step_overhead_s of host "
                     "time per forward pass (HF transformers, TGI < 2.0, vLLM < 0.2.7 or --enforce-eager)"),
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


# (pattern of the framework's name, first version that replays decode as CUDA graphs by
# default, where that is documented)
_FIRST_GRAPH_VERSION = (
    (re.compile(r"\b(tgi|text[- ]generation[- ]inference)\b", re.I), (2, 0, 0),
     "TGI replays decode as CUDA graphs by default from 2.0 (text-generation-inference PR #1703)"),
    (re.compile(r"\bvllm\b", re.I), (0, 2, 7),
     "vLLM captures decode CUDA graphs by default from 0.2.7 (vllm PR #1926)"),
)
_EAGER_WORDS = re.compile(r"\b(eager|enforce[-_ ]eager|transformers|hf generate|accelerate)\b", re.I)
_VERSION = re.compile(r"\bv?(\d+)\.(\d+)(?:\.(\d+))?")


def runtime_for_framework(framework: str) -> tuple[str, str]:
    """(runtime name, reason) for a framework description such as ``"HF TGI 1.0.3"``."""
    text = str(framework or "")
    if _EAGER_WORDS.search(text):
        return "eager", f"{text!r} runs PyTorch eager"
    for pattern, first, fact in _FIRST_GRAPH_VERSION:
        hit = pattern.search(text)
        if hit:
            m = _VERSION.search(text[hit.end():])
            if not m:
                return "compiled", f"{fact}; no version given"
            version = tuple(int(g or 0) for g in m.groups())
            this = f"; this is {'.'.join(map(str, version))}"
            return ("eager" if version < first else "compiled"), fact + this
    return "compiled", "default: CUDA graphs / C++ runtime"
