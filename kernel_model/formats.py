"""Weight / activation precision formats: bytes per weight, scale overhead, math peak.

``Scenario.weight_format`` names one of :data:`FORMATS`; ``"auto"`` (the default) maps the
old ``weight_bits`` to the closest format (:func:`format_for_bits`). Each format says

* ``bits``: the stored bits of one weight value (4, 8 or 16: what ``weight_bits`` reports);
* ``scale_bits``: bits of scales / zero points per weight (block scales of the microscaling
  formats, group scales and zeros of AWQ / GPTQ); bytes per weight = (bits + scale_bits) / 8;
* ``math``: the tensor-core precision its GEMMs run at: ``"16"`` (weight-only formats are
  dequantised to BF16/FP16 inside the GEMM), ``"fp8"`` or ``"fp4"``.

**A GPU without the format's tensor cores** (FP8 on Ampere, FP4 before Blackwell) runs it
weight-only: the compact weights are read and dequantised to 16-bit math, as vLLM's Marlin
kernels do for FP8 and FP4 checkpoints on Ampere and as gpt-oss's MXFP4 experts run on Hopper
and MI300X. So such a combination is allowed; :func:`format_note` says so (and
``simulate`` lists it under ``warnings``). Unknown names raise ``ValueError`` with the closest.

Sources: NVFP4 = FP4 E2M1 values with one FP8 E4M3 scale per 16 values (plus one FP32 scale
per tensor, negligible) -- NVIDIA, "Introducing NVFP4" (developer blog, 2025) and the Blackwell
tensor-core docs (PTX ISA, ``kind::mxf4nvf4``); MXFP4 = FP4 E2M1 with one E8M0 scale per 32
values -- OCP Microscaling Formats (MX) v1.0 spec, 2023; AWQ and GPTQ checkpoints (AutoAWQ,
AutoGPTQ ``group_size=128``) store one FP16 scale and one 4-bit zero point per 128 weights;
FP8 (E4M3) and INT8 weight-only checkpoints keep one scale per tensor or per output channel
(under 0.01 bit per weight: neglected). GGUF (llama.cpp ``ggml-common.h`` block layouts):
Q4_0 and Q8_0 keep one FP16 scale per 32 values; Q4_K_M mixes Q4_K (4.5 bits per weight) and
Q6_K tensors, 4.89 bits per weight on Llama-3-8B (llama.cpp ``quantize`` help table).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Format:
    name: str
    bits: int                  # stored bits of one weight value (what weight_bits reports)
    scale_bits: float          # scale / zero-point bits per weight
    math: str                  # "16", "fp8" or "fp4": tensor-core precision of its GEMMs
    description: str

    @property
    def bytes_per_weight(self) -> float:
        return (self.bits + self.scale_bits) / 8.0


FORMATS: dict[str, Format] = {f.name: f for f in [
    Format("fp16", 16, 0.0, "16", "FP16 weights and activations"),
    Format("bf16", 16, 0.0, "16", "BF16 weights and activations"),
    Format("fp8", 8, 0.0, "fp8", "FP8 E4M3 weights and activations (W8A8), per-tensor scales"),
    Format("int8", 8, 0.0, "16", "INT8 weight-only (W8A16), per-channel scales"),
    Format("int4-awq", 4, (16 + 4) / 128, "16",
           "INT4 weight-only AWQ, group 128: FP16 scale + 4-bit zero per group"),
    Format("gptq", 4, (16 + 4) / 128, "16",
           "INT4 weight-only GPTQ, group 128: FP16 scale + 4-bit zero per group"),
    Format("nvfp4", 4, 8 / 16, "fp4", "NVFP4: FP4 E2M1, one FP8 E4M3 scale per 16 values (W4A4)"),
    Format("mxfp4", 4, 8 / 32, "fp4", "MXFP4 (OCP MX): FP4 E2M1, one E8M0 scale per 32 values"),
    # llama.cpp GGUF block formats, weight-only (dequantised in the kernel)
    Format("q4_0", 4, 16 / 32, "16", "GGUF Q4_0 (llama.cpp): 4-bit, one FP16 scale per 32 values"),
    Format("q4_k_m", 4, 0.89, "16",
           "GGUF Q4_K_M (llama.cpp): Q4_K super-blocks (4.5 bits per weight) with some tensors "
           "in Q6_K, 4.89 bits per weight on average"),
    Format("q8_0", 8, 16 / 32, "16", "GGUF Q8_0 (llama.cpp): 8-bit, one FP16 scale per 32 values"),
]}
FORMAT_NAMES = tuple(FORMATS)
WEIGHT_FORMATS = ("auto",) + FORMAT_NAMES          # what Scenario.weight_format accepts
FORMAT_ALIASES = {"awq": "int4-awq", "int4": "int4-awq", "w4a16": "int4-awq", "e4m3": "fp8",
                  "float16": "fp16", "half": "fp16", "bfloat16": "bf16", "w8a16": "int8",
                  "gptq-int4": "gptq", "mx-fp4": "mxfp4", "nv-fp4": "nvfp4",
                  "q4_k": "q4_k_m", "q4-k-m": "q4_k_m", "q4-0": "q4_0", "q8-0": "q8_0"}


def get_format(name) -> Format:
    """The format called ``name`` (or an alias such as ``awq``); ``ValueError`` naming the
    field, the value, the closest names and every valid one otherwise."""
    key = str(name).strip().lower()
    key = FORMAT_ALIASES.get(key, key)
    if key in FORMATS:
        return FORMATS[key]
    from .hardware import closest
    near = closest(str(name), FORMAT_NAMES)
    raise ValueError(f"weight_format={name!r} is not a known weight format"
                     + (f"; closest: {', '.join(near)}" if near else "")
                     + f" (valid: {', '.join(WEIGHT_FORMATS)})")


def format_for_bits(bits: int, gpu) -> str:
    """The closest format to the old ``weight_bits``: 16 -> fp16; 8 -> fp8 where the GPU has
    FP8 tensor cores, else int8 (weight-only); 4 -> int4-awq (weight-only, 16-bit math: what
    4-bit meant before formats existed)."""
    bits = int(bits)
    if bits == 16:
        return "fp16"
    if bits == 8:
        return "fp8" if gpu.fp8_tflops else "int8"
    if bits == 4:
        return "int4-awq"
    raise ValueError(f"weight_bits={bits!r} is not allowed: must be one of 4, 8, 16")


def resolve(weight_format: str, weight_bits: int, gpu) -> Format:
    """The format a scenario runs: ``weight_format``, or the closest to ``weight_bits``."""
    if weight_format in (None, "", "auto"):
        return FORMATS[format_for_bits(weight_bits, gpu)]
    return get_format(weight_format)


def describe(weight_format: str, weight_bits: int, gpu) -> str:
    """The precision of a scenario's weights in words: ``nvfp4 (4.5 bits per weight, FP4
    math)``; with ``"auto"`` and 4 or 8 bits, which format the bits chose (``int8, the
    closest to 8-bit (...)``); off the format's tensor cores, ``weight-only``."""
    fmt = resolve(weight_format, weight_bits, gpu)
    head = (f"{fmt.name}, the closest to {weight_bits}-bit"
            if weight_format in (None, "", "auto") and weight_bits != 16 else fmt.name)
    math = "16-bit math" if fmt.math == "16" or not native(fmt, gpu) else f"{fmt.math.upper()} math"
    only = ", weight-only" if fmt.math != "16" and not native(fmt, gpu) else ""
    return f"{head} ({fmt.bytes_per_weight * 8:.3g} bits per weight, {math}{only})"


def native(fmt: Format, gpu) -> bool:
    """True when ``gpu`` has tensor cores for the format's math."""
    return fmt.math == "16" or gpu.math_tflops(fmt.math) is not None


def math_flops(fmt: Format, gpu) -> float:
    """Dense peak (FLOP/s) of the format's GEMMs on ``gpu``: the FP4 / FP8 peak where the GPU
    has those tensor cores (FP4 scaled by the GPU's ``fp4_gemm_ratio``: the share of it large
    GEMMs sustain, relative to 16-bit ones), else the 16-bit peak (weight-only
    dequantisation)."""
    peak = gpu.sustained_tflops(fmt.math) if fmt.math != "16" else None
    return (peak or gpu.bf16_tflops) * 1e12


def format_note(fmt: Format, gpu) -> str:
    """Empty, or why ``fmt`` runs weight-only on ``gpu``."""
    if native(fmt, gpu):
        return ""
    return (f"{gpu.name} has no {fmt.math.upper()} tensor cores: {fmt.name} runs weight-only "
            f"({fmt.bytes_per_weight:.4g} bytes per weight, GEMMs at the 16-bit peak)")


def weight_arrays(weight_format: str, bits_values, gpu):
    """(bytes per weight, GEMM peak FLOP/s) for each value of ``bits_values`` (the sweep's
    ``weight_bits`` axis); an explicit ``weight_format`` wins over ``weight_bits``."""
    fmts = [resolve(weight_format, int(b), gpu) for b in np.atleast_1d(bits_values)]
    return (np.array([f.bytes_per_weight for f in fmts]),
            np.array([math_flops(f, gpu) for f in fmts]))


# ---- measurement files: weight_bits + notes -> format ------------------------------------
_NOTE_RULES = (                      # (pattern in the notes, format), first match wins
    (r"\bq4_k(_m)?\b", "q4_k_m"), (r"\bq4_0\b", "q4_0"), (r"\bq8_0\b", "q8_0"),
    (r"\bnvfp4\b", "nvfp4"), (r"\bmxfp4\b", "mxfp4"), (r"\bfp4\b", "fp4"), (r"\bawq\b", "int4-awq"),
    (r"\bgptq\b", "gptq"), (r"\bfp8\b|\be4m3\b", "fp8"), (r"\bint8\b|\bw8a16\b", "int8"),
    (r"\bbf16\b|\bbfloat16\b", "bf16"), (r"\bfp16\b|\bfloat16\b", "fp16"),
)
_FMT_FIELD = re.compile(r"weight format:\s*([^;(]*)", re.I)


def format_from_notes(notes: str, weight_bits: int, gpu) -> tuple[str, str]:
    """(format name, reason) of a measurement row, by these rules in order:

    1. the notes' ``weight format: X`` field, if it names a format;
    2. the first format named anywhere in the notes (NVFP4, MXFP4, a bare FP4 -- NVFP4 on an
       NVIDIA GPU, MXFP4 on an AMD one --, AWQ, GPTQ, FP8, INT8, BF16, FP16, in that order);
    3. the closest format to ``weight_bits`` (:func:`format_for_bits`).

    A named format whose bits differ from ``weight_bits`` raises ``ValueError``.
    """
    text = str(notes or "")
    for where, src in ((_FMT_FIELD.search(text), "notes 'weight format'"), (None, "notes")):
        part = where.group(1) if where else (text if src == "notes" else "")
        for pat, name in _NOTE_RULES:
            if re.search(pat, part, re.I):
                if name == "fp4":          # a bare "FP4": NVIDIA's is NVFP4, AMD's MXFP4,
                    if weight_bits != 4:      # and only for a 4-bit row ("FP8, not FP4")
                        continue
                    name = "mxfp4" if str(getattr(gpu, "family", "")).startswith("cdna") else "nvfp4"
                if FORMATS[name].bits != weight_bits:
                    raise ValueError(f"weight_bits={weight_bits} disagrees with the {src}, "
                                     f"which name {name} ({FORMATS[name].bits}-bit)")
                return name, f"{src} name {name}"
    return format_for_bits(weight_bits, gpu), f"closest format to weight_bits={weight_bits}"


_KV8 = re.compile(r"\bfp8[- ]kv\b|\bfp8 kv[- ]cache\b|\bkv[- ]cache[^;]{0,12}\bfp8\b", re.I)


def kv_bits_from_notes(notes: str) -> tuple[int, str]:
    """(kv_bits, reason): 8 where the notes say the KV cache is FP8 ("FP8 KV", "fp8 kv",
    "FP8-KV"), else 16."""
    if _KV8.search(str(notes or "")):
        return 8, "notes name an FP8 KV cache"
    return 16, "default 16-bit KV cache"
