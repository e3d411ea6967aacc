"""Calibration: the few physical parameters fitted to published measurements.

Every value is a property of how kernels run on real GPUs, never a per-row correction:
the same numbers apply to every GPU, whose own peak FLOP/s, HBM and link bandwidth
and latency carry the differences between hardware. ``families`` may override fields for
one GPU family (``GPU.family``: ampere, hopper, blackwell, ada, cdna3) once measurements
of that family exist, and ``runtimes`` for one serving runtime profile
(``kernel_model.runtime``); a runtime's override wins over a family's. The shipped
calibration has one: the launch gap of vLLM.
"""
from __future__ import annotations

from dataclasses import dataclass, asdict, field, fields, replace

FAMILIES = ("ampere", "hopper", "blackwell", "ada", "cdna3")


@dataclass(frozen=True)
class Calibration:
    flops_efficiency: float = 0.72       # achieved / dense peak FLOP/s of large GEMMs
    attention_efficiency: float = 0.79   # achieved / peak FLOP/s of (flash) attention kernels
    hbm_efficiency: float = 0.88         # achieved / peak HBM bandwidth of streaming kernels
    launch_overhead_s: float = 11.7e-6    # gap per kernel launch (CUDA-graph replay), s
    collective_overhead_s: float = 8.6e-6 # per sync round of a collective call (x log2 ranks), s
    collective_step_s: float = 0.0       # extra latency per algorithm step (hop handshake), s
    direct_allreduce_max_bytes: float = 524288.0   # "auto" uses one/two-shot all-reduce up to this size
    step_overhead_s: float = 0.0         # host work per decode step (sampling, scheduling), s
    eager_server_step_s: float = 15.5e-3  # host time per forward pass, "eager_server" runtime, s
    roofline_exponent: float = 1.46       # n in (compute^n + memory^n)^(1/n); inf = ideal max
    # {family: {field: value}}: overrides for the GPUs of one family (see GPU.family)
    families: dict = field(default_factory=dict, hash=False)
    # {runtime: {field: value}}: overrides for one serving runtime profile (kernel_model.runtime)
    runtimes: dict = field(default_factory=dict, hash=False)
    source: str = "defaults"

    def to_dict(self) -> dict:
        return asdict(self)

    def replace(self, **kw) -> "Calibration":
        """A copy with fields replaced; ``families`` replaces the whole per-family mapping.
        Unknown names and out-of-range values raise ``ValueError`` naming them."""
        numeric = numeric_fields()
        for k, v in kw.items():
            if k == "source":
                continue
            if k == "families":
                kw[k] = _check_families(v, numeric)
            elif k == "runtimes":
                kw[k] = _check_runtimes(v, numeric)
            else:
                _check_field(k, v, numeric)
                kw[k] = float(v)
        return replace(self, **kw)

    def for_family(self, family: str) -> "Calibration":
        """The calibration GPUs of ``family`` run with: this one with that family's overrides."""
        over = self.families.get(family)
        return replace(self, **over) if over else self

    def resolve(self, family: str | None, runtime: str | None) -> "Calibration":
        """The calibration a scenario runs with: this one, then ``family``'s overrides, then
        ``runtime``'s (a runtime override wins where both set a field)."""
        over = {**self.families.get(family, {}), **self.runtimes.get(runtime, {})}
        return replace(self, **over) if over else self


def numeric_fields() -> list[str]:
    """The calibration's numeric fields (everything but ``families`` and ``source``)."""
    return [f.name for f in fields(Calibration) if f.name not in ("families", "runtimes", "source")]


# Allowed ranges of the numeric fields (checked by ``Calibration.replace`` and therefore by
# every ``efficiency=`` / ``--calibration`` path): efficiencies in (0, 1]; times in
# [0, MAX_TIME_S] seconds; ``roofline_exponent`` >= 1 (1: compute and memory add, inf: the
# ideal max(compute, memory); below 1 a kernel would take longer than both added);
# ``direct_allreduce_max_bytes`` >= 0 (inf: always one/two-shot). NaN is never allowed,
# and inf only where said.
MAX_TIME_S = 1.0
ALLOW_INF = ("roofline_exponent", "direct_allreduce_max_bytes")


def allowed(k) -> str:
    """What field ``k`` accepts, in words."""
    if k.endswith("efficiency"):
        return "in (0, 1] (a number)"
    if k == "roofline_exponent":
        return "a number >= 1 (or inf for the ideal roofline max)"
    if k.endswith("_s"):
        return f"a finite number of seconds in [0, {MAX_TIME_S:g}]"
    if k in ALLOW_INF:
        return "a number >= 0 (or inf)"
    return "a finite number >= 0"


def _ok(k, v) -> bool:
    if v != v:                                     # NaN
        return False
    if v in (float("inf"), float("-inf")):
        return k in ALLOW_INF and v > 0
    if k.endswith("efficiency"):
        return 0 < v <= 1
    if k == "roofline_exponent":
        return v >= 1
    if k.endswith("_s"):
        return 0 <= v <= MAX_TIME_S
    return v >= 0


def _check_field(k, v, numeric, where="efficiency field") -> None:
    if k not in numeric:
        from .hardware import closest
        top = where == "efficiency field"           # only the top level takes "families"
        near = closest(k, numeric + (["families", "runtimes"] if top else []))
        raise ValueError(f"{where} {k!r} is unknown"
                         + (f"; closest: {', '.join(near)}" if near else "")
                         + f" (valid: {', '.join(sorted(numeric))}"
                         + f"{', families, runtimes' if top else ''})")
    real = isinstance(v, (int, float)) or type(v).__module__ == "numpy" and hasattr(v, "dtype") \
        and getattr(v, "ndim", 1) == 0 and v.dtype.kind in "iuf"
    if isinstance(v, bool) or type(v).__name__ == "bool_" or not real or not _ok(k, float(v)):
        raise ValueError(f"{where} {k}={v!r} is not allowed: must be {allowed(k)}")


def _check_overrides(v, numeric, kind: str, names, resolve) -> dict:
    """``{name: {field: value}}`` overrides for one GPU family or runtime, checked field by
    field; ``resolve(name)`` returns the canonical name or raises naming the closest."""
    if not isinstance(v, dict):
        raise ValueError(f"efficiency field {kind}={v!r} must be a dict "
                         f"{{name: {{field: value}}}} ({kind}: {', '.join(names)})")
    out = {}
    for name, over in v.items():
        key = resolve(name)
        if not isinstance(over, dict):
            raise ValueError(f"{kind}[{name!r}]={over!r} must be a dict of calibration fields")
        for k, x in over.items():
            _check_field(k, x, numeric, where=f"{kind}[{name!r}] field")
        out[key] = {k: float(x) for k, x in over.items()}
    return out


def _family(name) -> str:
    if name not in FAMILIES:
        from .hardware import closest
        near = closest(str(name), FAMILIES)
        raise ValueError(f"families: {name!r} is not a GPU family"
                         + (f"; closest: {', '.join(near)}" if near else "")
                         + f" (valid: {', '.join(FAMILIES)})")
    return name


def _check_families(v, numeric) -> dict:
    return _check_overrides(v, numeric, "families", FAMILIES, _family)


def _check_runtimes(v, numeric) -> dict:
    from .runtime import RUNTIMES, get_runtime
    return _check_overrides(v, numeric, "runtimes", RUNTIMES, lambda n: get_runtime(n).name)


# llama.cpp's per-kernel gaps, each fitted alone on kernel_model/data/llamacpp.csv: 2024 with
# and without CUDA graphs, and 2025-2026 with them; the 2025-2026 profile has no rows without
# graphs, so its eager gap is its own plus the saving the 2024 rows measure (derived)
_LLAMACPP_2024_S, _LLAMACPP_2024_EAGER_S = 1.138761484827555e-05, 1.413416952575058e-05
_LLAMACPP_S = 3.847082711844976e-06


def llamacpp_eager_gap(llamacpp_s, llamacpp_2024_s, llamacpp_2024_eager_s):
    """Today's llama.cpp gap without CUDA graphs (no rows of its own): its gap with them plus
    the per-kernel saving graphs gave the 2024 rows."""
    return llamacpp_s + (llamacpp_2024_eager_s - llamacpp_2024_s)


# SGLang's per-kernel gap, fitted alone on kernel_model/data/sglang.csv (36 decode rows, six
# sources: InferenceX's DeepSeek-R1 tables on B200 / B300 / H200, the Qwen3 speed benchmark on
# H20, LMSYS's gpt-oss blog on B200); before it, SGLang took the global gap, fitted on
# 2023-era C++ stacks on A100
_SGLANG_S = 8.897134501298373e-06
# MLC LLM's and ExLlamaV2's gaps, each fitted alone on kernel_model/data/localengines.csv
# (mlc-ai/llm-perf-bench, Oct 2023: Llama-2-7B / 13B 4-bit at batch 1 on an RTX 4090 and an
# RTX 3090 Ti); before them both took the global gap, 2-4x theirs
_MLC_S, _EXLLAMAV2_S = 3.952535671499565e-06, 7.849147524255873e-06

# The class defaults above are the earlier fit on measurements.csv alone (A100). DEFAULT is
# refitted by `python -m kernel_model.refit` (its recipe: kernel_model/refit.py) on
# measurements.csv + measurements_2025.csv: seven values, one of them per runtime.
# eager_server_step_s (TGI < 2.0's host time per pass) is fitted alone by refit.eager_server on
# the TGI 1.0.3 study's FP16 rows, p4d (measurements.csv) and g5 (data/tgi-sagemaker-g5.csv),
# the p4d source kept within measurements.csv's 20 % per-source target.
DEFAULT = Calibration(
    flops_efficiency=0.68745347223237,
    attention_efficiency=0.9999735796679972,
    hbm_efficiency=0.9496410957369461,
    launch_overhead_s=1.5974482786311874e-05,
    collective_overhead_s=8.684727565795299e-06,
    collective_step_s=0.0,
    direct_allreduce_max_bytes=524288.0,
    step_overhead_s=0.0,
    eager_server_step_s=0.00969,
    roofline_exponent=1.767438069761306,
    families={},
    runtimes={'vllm': {'launch_overhead_s': 6.597784581968294e-06},
              'llamacpp': {'launch_overhead_s': _LLAMACPP_S},
              'llamacpp-eager': {'launch_overhead_s': llamacpp_eager_gap(
                  _LLAMACPP_S, _LLAMACPP_2024_S, _LLAMACPP_2024_EAGER_S)},
              'llamacpp-2024': {'launch_overhead_s': _LLAMACPP_2024_S},
              'llamacpp-2024-eager': {'launch_overhead_s': _LLAMACPP_2024_EAGER_S},
              'sglang': {'launch_overhead_s': _SGLANG_S},
              'mlc': {'launch_overhead_s': _MLC_S},
              'exllamav2': {'launch_overhead_s': _EXLLAMAV2_S}},
    source="fitted by kernel_model.refit on measurements.csv + measurements_2025.csv")
