"""Serving runtimes: the host side of a forward pass, as named profiles.

A decode step needs the token sampled by the step before it, so host work the GPU cannot
run ahead of lands on every step's critical path. A :class:`Runtime` profile says how a
serving stack issues its kernels:

``graphs``
    decode steps are replayed as CUDA / HIP graphs or issued from a C++ runtime: each kernel
    costs the calibrated gap ``launch_overhead_s``. Without graphs each kernel costs at least
    the host's launch time, ``eager_launch_s`` (a published figure, below).
``fusion``
    the share of the small elementwise kernels (norms, rotary embedding, activation) that
    the stack fuses into a neighbouring kernel: their launch gap is not paid.
host time per pass
    ``step_overhead_s`` (calibration) for every runtime, plus ``eager_server_step_s`` for an
    eager Python server (``host_per_pass``) that round-trips router <-> shards every token.
host time per sequence
    ``host_per_seq_s`` per sequence sampled in a pass: a Python engine loop (vLLM,
    TensorRT-LLM's PyTorch backend) schedules, prepares inputs and books the sampled token of
    every sequence on the host each step, and the next step waits for it. It matters at
    saturation batches (thousands of sequences: tens of ms a step), not at small ones. A
    published figure for vLLM (``PYTHON_ENGINE_SEQ_S``, below), not fitted. TensorRT-LLM's
    PyTorch backend shows less of it (``PYTORCH_EXECUTOR_SEQ_S``: its overlap scheduler
    prepares the next step while the GPU runs this one) and its C++ executor less still
    (``CPP_EXECUTOR_SEQ_S``); each is one parameter fitted on its saturation rows.

The numbers -- ``launch_overhead_s``, ``step_overhead_s``, ``eager_server_step_s`` -- are
calibration fields: one fitted value for all runtimes, overridden per runtime where
published measurements of that runtime exist (``Calibration.runtimes``, fitted with
``field@runtime``; see :func:`parameters` for the values a profile runs with).

Profiles: ``compiled`` (the default: any CUDA-graph / C++ runtime not named below),
``trtllm`` (its C++ runtime), ``trtllm-pytorch`` (its PyTorch backend, default from 1.0),
``vllm``, ``sglang``, ``tgi`` (TGI >= 2.0), ``llamacpp`` (2025-2026: CUDA graphs per device;
``llamacpp-eager`` under a tensor split or a batch), ``llamacpp-2024`` / ``llamacpp-2024-eager``
(the same in 2024, before the fusion work), ``tgi-eager`` (TGI < 2.0);
``eager_server`` is an alias of ``tgi-eager``. ``runtime_for_framework`` maps the
``framework`` text of a measurements file to a profile by documented release facts (for
llama.cpp the year, or the build number its tools print: builds before b4400 are 2023-2024's).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .hardware import closest

EAGER_LAUNCH_S = 10e-6   # host time to launch one kernel from eager PyTorch (several to ~10 µs:
# PyTorch blog "Accelerating PyTorch with CUDA Graphs", 2021; vLLM PR #1926 measured the
# eager decode step of a 7B model ~1.5 ms slower than its CUDA-graph replay)

PYTHON_ENGINE_SEQ_S = 30e-6   # host time per sequence per engine step of a Python engine loop
# (scheduling, input preparation, sampler bookkeeping, detokenisation) at saturation batches:
# TensorRT-LLM PR #10273 measured 45.11 ms per iteration at 1536 sequences (29 us each);
# vLLM's own reports bracket it (PR #818: ~20 us per token; issue #6801: ~100 us, 2024)

CPP_EXECUTOR_SEQ_S = 8e-6   # the same per sequence per step for TensorRT-LLM's C++ executor
# (batch manager: capacity and micro-batch scheduling, KV-block bookkeeping, input buffers,
# responses), which runs it in series with the engine. Fitted, one parameter: the MAPE of
# the 1266 H100 / H200 rows of releases 0.13-0.17 in TensorRT-LLM's perf overview
# (benchmarks/data/trtllm-perf-overview-h100-h200.csv, saturation throughput with trtllm-bench)
# is 19.2 % at 0, 15.0 % at 5 us, 14.6 % at 6.5, 14.5 % at 8, 14.8 % at 10, 15.9 % at 15
# (benchmarks/fit_host_per_seq.py prints the scan)

PYTORCH_EXECUTOR_SEQ_S = 11e-6   # the same for TensorRT-LLM's PyTorch backend, as the GPU sees
# it: the maintainers' profiles measure 29-34 us of host work per sequence (PYTHON_ENGINE_SEQ_S'
# sources), of which its overlap scheduler (on by default) runs part while the GPU computes the
# previous step. Fitted, one parameter: the pooled MAPE of the 705 PyTorch-backend saturation
# rows of TensorRT-LLM's perf overview (H100 / H200, B200 / GB200, GH200 and the 28 rows of
# measurements_2025.csv) is 14.2 % at 16 us, 14.0 % at 15, 13.9 % at 12-14, 13.84 % at 11
# (lowest), 13.87 % at 10, 14.1 % at 8 (benchmarks/fit_host_per_seq.py --runtime
# trtllm-pytorch prints the scan per table). Refitted with the B200-class FP4 GEMM ratio
# (hardware.GPU.fp4_gemm_ratio); without it the Blackwell rows' prefill was too fast and the
# pooled fit chose 16 us (16.1 %), the tables pulling apart (Hopper ~10, Blackwell 20-30)


@dataclass(frozen=True)
class Runtime:
    name: str
    graphs: bool            # decode replayed as CUDA/HIP graphs or issued by a C++ runtime
    fusion: float           # share of elementwise kernels (norm, rope, act) fused away, 0..1
    host_per_pass: bool     # eager Python server: eager_server_step_s per forward pass
    description: str
    source: str
    eager_launch_s: float = EAGER_LAUNCH_S   # per-kernel floor when graphs is False, s
    host_per_seq_s: float = 0.0   # host time per sequence sampled in a pass (scheduling,
    # input preparation, sampling bookkeeping, detokenisation) that the GPU waits for, s
    eager_as: str = ""            # the profile that runs where this one's graphs do not
    # apply (llama.cpp: a tensor split, tp > 1, or more than one sequence per step), if any
    kv_of_free: bool = False      # the KV cache is kv_cache_fraction of the memory left
    # after the weights and the activation peak (TensorRT-LLM's PyTorch backend: a profiling
    # pass measures that peak, then free_gpu_memory_fraction of the rest); False: the
    # fraction of the whole memory, less weights and activations (vLLM's
    # gpu_memory_utilization, SGLang's mem_fraction_static)
    custom_allreduce: str = "any"  # where the stack runs its own one/two-shot all-reduce
    # (with peer-to-peer access, up to direct_allreduce_max_bytes): "any"; "mesh" = only among
    # GPUs a full NVLink / Infinity Fabric mesh joins, or 2 GPUs over PCIe; "nvlink" = only
    # where NVLink joins the GPUs (never over PCIe); "none": NCCL only


RUNTIMES = {r.name: r for r in [
    Runtime("compiled", True, 0.0, False,
            "any CUDA-graph or C++ runtime not named below (LMDeploy TurboMind, "
            "FasterTransformer, ...): the calibrated launch gap, no fusion assumed",
            "the calibration's launch_overhead_s, fitted on shared/data/measurements.csv"),
    Runtime("trtllm", True, 0.25, False,
            "NVIDIA TensorRT-LLM (C++ executor, CUDA graphs from 0.10): rotary embedding runs "
            "inside the attention kernel (1 of 4 elementwise kernels fused); also NeMo "
            "inference, NIM and FasterTransformer, its predecessor",
            "TensorRT-LLM docs, 'Multi-head, multi-query and group-query attention' "
            "(RoPE fused into the gptAttention kernel); FasterTransformer decoder masked MHA; "
            "all-reduce: AllreducePlugin::selectImplementation (ncclPlugin/allreducePlugin.cpp: "
            "AUTO without NVLink returns NCCL); host_per_seq_s: CPP_EXECUTOR_SEQ_S, fitted "
            "on the perf overview's H100 / H200 rows of releases 0.13-0.17",
            host_per_seq_s=CPP_EXECUTOR_SEQ_S, custom_allreduce="nvlink"),
    Runtime("trtllm-pytorch", True, 0.25, False,
            "TensorRT-LLM's PyTorch backend (the default from 1.0): the same attention "
            "kernels (RoPE fused), driven by a Python executor loop (PyExecutor: scheduler, "
            "sampler bookkeeping, request updates) that costs host time per sequence per step",
            "fusion as trtllm; host_per_seq_s: PYTORCH_EXECUTOR_SEQ_S, fitted on the perf "
            "overview's PyTorch-backend saturation rows (the host work it partly hides: "
            "TensorRT-LLM PR #10273, GB200, host_step_time 45.11 ms per iteration at 1536 "
            "sequences per rank = 29 us each; PR #16564, ~8.8 ms per-iteration host bubble at "
            "256 requests = 34 us, the per-request Python sampler tail); all-reduce: "
            "thop/allreduceOp.cpp (AUTO without NVLink falls back to NCCL, as the TensorRT "
            "backend's plugin); KV cache: "
            "_torch/pyexecutor/_util.py, KvCacheCreator (available KV memory = (total - "
            "peak of the profiling pass) x free_gpu_memory_fraction)",
            host_per_seq_s=PYTORCH_EXECUTOR_SEQ_S, custom_allreduce="nvlink", kv_of_free=True),
    Runtime("vllm", True, 0.0, False,
            "vLLM (CUDA graphs for decode by default from 0.2.5; V1 engine from 0.8): "
            "separate rotary, fused add+RMSNorm (one kernel), fused silu_and_mul (one kernel); "
            "a Python engine loop (scheduler, input preparation, output processing) costs "
            "host time per sequence per step",
            "vLLM PR #1926 (CUDA graphs), vLLM 0.8 release notes (V1 default); "
            "host_per_seq_s: vLLM PR #818 (tokenizer + scheduling ~20 us per generated "
            "token, Llama-70B on 4 x A100), issue #6801 (~20 ms between steps at batch 200, "
            "~100 us per sequence, 2024), issue #6854 (5-13 ms GPU bubble per decode step); "
            "custom all-reduce: custom_all_reduce.py ('not supported on more than two "
            "PCIe-only GPUs': NCCL there)",
            host_per_seq_s=PYTHON_ENGINE_SEQ_S, custom_allreduce="mesh"),
    Runtime("sglang", True, 0.0, False,
            "SGLang (CUDA graphs for decode, overlap scheduler from 0.4): kernels as vLLM's, "
            "and vLLM's custom all-reduce with its rule (NCCL over PCIe beyond 2 GPUs)",
            "SGLang v0.4 release blog (zero-overhead batch scheduler); its custom_all_reduce.py "
            "(vLLM's); launch gap fitted on kernel_model/data/sglang.csv (InferenceX DeepSeek-R1 "
            "on B200 / B300 / H200, Qwen3 speed benchmark on H20, LMSYS gpt-oss on B200)",
            custom_allreduce="mesh"),
    Runtime("tgi", True, 0.0, False,
            "Text Generation Inference from 2.0 (decode replayed as CUDA graphs)",
            "text-generation-inference PR #1703 (CUDA graphs by default)"),
    Runtime("llamacpp", True, 0.0, False,
            "llama.cpp (ggml CUDA backend) as of 2025-2026: token generation replayed as one "
            "CUDA graph per device (from PR #6766, May 2024) for one sequence per step (more "
            "run at llamacpp-eager's gap), so split mode layer (pp here) keeps them, and the "
            "2025 fusion work (fused norms, GEMV fusion PR #16715) shortened the gap. A tensor "
            "split (tp here) runs at llamacpp-eager's gap: split mode row (removed in 2026, "
            "PR #24216) kept the weights in split buffers, which graph capture does not "
            "support; split mode tensor (PR #19378, 2026) captures the many sub-graphs "
            "between its two syncs per layer, at an overhead its author reports",
            "llama.cpp PR #6766, #19378, #24216 and ggml-cuda.cu ('disabling CUDA graphs due "
            "to split buffer', 'disable CUDA graphs for batch size > 1'); launch gap fitted on "
            "the 2025-2026 rows of kernel_model/data/llamacpp.csv (PR #15802: RTX 3090, "
            "Llama-3-8B Q4_0; CambrianTech continuum PR #1627: RTX 5090, Qwen3-8B Q4_K_M)",
            eager_as="llamacpp-eager", custom_allreduce="none"),
    Runtime("llamacpp-eager", False, 0.0, False,
            "llama.cpp (2025-2026) without CUDA graphs: a tensor split, more than one "
            "sequence per step, or a build without graphs (GGML_CUDA_DISABLE_GRAPHS / "
            "GGML_CUDA_GRAPHS=OFF)",
            "derived, not fitted (no such rows): llamacpp's gap plus the 2.7 us per kernel "
            "that graphs saved in the 2024 rows (llamacpp-2024-eager less llamacpp-2024)",
            eager_launch_s=0.0, custom_allreduce="none"),
    Runtime("llamacpp-2024", True, 0.0, False,
            "llama.cpp in 2024, when CUDA graphs arrived (PR #6766, May 2024): graphs for one "
            "sequence per step on unsplit weights, before the 2025 fusion work",
            "launch gap fitted on the PR #6766 / issue #6763 graph rows of "
            "kernel_model/data/llamacpp.csv (RTX 3090, RTX 4090, H100 PCIe, Llama-2-7B 4-bit)",
            eager_as="llamacpp-2024-eager", custom_allreduce="none"),
    Runtime("llamacpp-2024-eager", False, 0.0, False,
            "llama.cpp in 2024 without CUDA graphs (before PR #6766, or where they do not apply)",
            "launch gap fitted on the PR #6766 / issue #6763 rows without graphs "
            "(kernel_model/data/llamacpp.csv)", eager_launch_s=0.0, custom_allreduce="none"),
    Runtime("mlc", True, 0.0, False,
            "MLC LLM (TVM-compiled model, decode as CUDA graphs, fused quantized GEMV "
            "kernels; tensor parallelism through TVM Disco over NCCL)",
            "launch gap fitted on the single-GPU rows of kernel_model/data/localengines.csv "
            "(mlc-ai/llm-perf-bench, Oct 2023: RTX 4090 and RTX 3090 Ti, Llama-2-7B / 13B "
            "4-bit)", custom_allreduce="none"),
    Runtime("exllamav2", True, 0.0, False,
            "ExLlamaV2 (fused quantized matmul and attention kernels for GPTQ / EXL2 weights; "
            "several GPUs split the model by layers, gpu_split)",
            "launch gap fitted on the single-GPU rows of kernel_model/data/localengines.csv "
            "(mlc-ai/llm-perf-bench, Oct 2023: RTX 4090 and RTX 3090 Ti, Llama-2-7B / 13B "
            "GPTQ)", custom_allreduce="none"),
    Runtime("tgi-eager", False, 0.0, True,
            "Text Generation Inference before 2.0: eager PyTorch shards behind a Rust router, "
            "a router <-> shard round trip per token: eager_server_step_s of host time per "
            "forward pass",
            "eager_server_step_s fitted on the TGI 1.0.3 study's FP16 rows on p4d (8 x A100) and g5 "
            "(A10G) (hf-tgi-sagemaker; kernel_model/data/tgi-sagemaker-g5.csv)"),
]}
RUNTIME_ALIASES = {"eager_server": "tgi-eager", "tensorrt-llm": "trtllm",
                   "trtllm_pytorch": "trtllm-pytorch",
                   "tensorrt_llm": "trtllm", "trt-llm": "trtllm", "text-generation-inference": "tgi",
                   "llama.cpp": "llamacpp", "llama-cpp": "llamacpp", "llama_cpp": "llamacpp",
                   "ggml": "llamacpp"}


def list_runtimes() -> list[str]:
    """Profile names, then the aliases (``eager_server``) that Scenario also accepts."""
    return list(RUNTIMES) + ["eager_server"]


def get_runtime(name) -> Runtime:
    """The profile called ``name`` (or an alias); ``ValueError`` naming the closest otherwise."""
    if isinstance(name, str):
        key = RUNTIME_ALIASES.get(name.strip().lower(), name.strip().lower())
        if key in RUNTIMES:
            return RUNTIMES[key]
    valid = list(RUNTIMES) + list(RUNTIME_ALIASES)
    near = closest(str(name), valid)
    raise ValueError(f"runtime={name!r} is not allowed"
                     + (f"; closest: {', '.join(near)}" if near else "")
                     + f" (valid: {', '.join(valid)})")


def launch_gap(rt: Runtime, launch_overhead_s: float) -> float:
    """Per-kernel gap (s) of ``rt`` given the calibrated graph-replay gap."""
    return launch_overhead_s if rt.graphs else max(launch_overhead_s, rt.eager_launch_s)


def graphs_off(tp, batch):
    """Where a profile with an ``eager_as`` profile runs as it (numbers or arrays): llama.cpp
    captures a CUDA graph only for one sequence (ggml-cuda.cu: "disable CUDA graphs for batch
    size > 1") on unsplit weights (split buffers cannot be captured). The one rule for
    :func:`plan_runtime` and the engine (``tables.derive``)."""
    return (tp > 1) | (batch > 1)


def plan_runtime(name, tp, batch=1) -> str:
    """The profile a run of profile ``name`` uses at tensor parallelism ``tp`` and ``batch``
    sequences per step: its ``eager_as`` profile where its graphs do not apply
    (:func:`graphs_off`), else its own name."""
    rt = get_runtime(name)
    return rt.eager_as if (rt.eager_as and graphs_off(float(tp), float(batch))) else rt.name


def plan_note(name, tp, batch=1) -> str:
    """A sentence where profile ``name`` runs as its ``eager_as`` profile under this plan
    (llama.cpp: no CUDA graph for split weights or for more than one sequence), else ''."""
    as_ = plan_runtime(name, tp, batch)
    if as_ == get_runtime(name).name:
        return ""
    why = "split weights (tp > 1)" if float(tp) > 1 else "more than one sequence per step"
    return (f"runtime {get_runtime(name).name} runs as {as_} here: {why} cannot be captured "
            f"in a CUDA graph, so every kernel is launched from the host")


def parameters(name, calibration=None, family: str | None = None) -> dict:
    """The physical numbers profile ``name`` runs with under ``calibration`` (default: the
    engine's), for GPUs of ``family``: launch gap with and without graphs, host time per
    step, fusion level, and where each comes from."""
    from .calibration import DEFAULT
    rt = get_runtime(name)
    cal = (calibration or DEFAULT).resolve(family, rt.name)
    over = (calibration or DEFAULT).runtimes.get(rt.name, {})
    host = cal.step_overhead_s + (cal.eager_server_step_s if rt.host_per_pass else 0.0)
    return {"runtime": rt.name, "graphs": rt.graphs, "eager_as": rt.eager_as or rt.name,
            "custom_allreduce": rt.custom_allreduce,
            "launch_s": launch_gap(rt, cal.launch_overhead_s),
            "launch_graph_s": cal.launch_overhead_s,
            "launch_eager_s": max(cal.launch_overhead_s, rt.eager_launch_s),
            "host_step_s": host, "host_per_seq_s": rt.host_per_seq_s, "fusion": rt.fusion,
            "fitted_here": sorted(over), "source": rt.source}


def runtime_table(calibration=None):
    """One row per profile: :func:`parameters` (pandas DataFrame)."""
    import pandas as pd
    return pd.DataFrame([parameters(n, calibration) for n in RUNTIMES])


# ---- framework text -> profile (release facts) --------------------------------------------
_VERSION = re.compile(r"\bv?(\d+)\.(\d+)(?:\.(\d+))?")
_TGI = re.compile(r"\b(tgi|text[- ]generation[- ]inference)\b", re.I)
_TGI_FACT = ("TGI replays decode steps as CUDA graphs by default from 2.0 "
             "(text-generation-inference PR #1703)")
# llama.cpp, its tools, and the apps that run its ggml CUDA backend (Ollama, LM Studio, KoboldCpp)
_LLAMACPP = (r"\b(llama\.?cpp|llama[- ]bench|llama[- ]server|ggml|ollama|lm ?studio|"
             r"kobold\.?cpp)\b")
_NO_GRAPHS = (r"\b(no cuda graphs?|without cuda graphs?|graphs off|ggml_cuda_disable_graphs|"
              r"ggml_cuda_graphs=off|before pr #?6766)")
_Y2024 = r"(\b20(23|24)\b|pr #?6766\b)"      # a 2023-2024 build, or PR #6766's own rows
# llama.cpp's build number, as its tools print it ("build: 4426e298 (2824)" from llama-bench,
# "version: 2824 (4426e298)" from --version) or as its release tag ("b2824"; four or five
# digits, so a GPU such as "B200" is not read as a build); builds numbered
# below LLAMACPP_2025_BUILD came out in 2023-2024: b3383 shipped by 2024-07-24 (llama.cpp
# #8671), b4927 on 2025-03-21 (#12504), ~6.4 builds a day between them, so ~b4400 at new year
_LLAMACPP_BUILD = re.compile(r"\bbuild:?\s*[0-9a-f]{7,40}\s*\((\d{4,5})\)|\bbuild:?\s*(\d{4,5})\b|"
                             r"\bversion:?\s*(\d{4,5})\s*\([0-9a-f]{7,40}\)|\bb(\d{4,5})\b", re.I)
LLAMACPP_2025_BUILD = 4400
# llama.cpp of 2023-2024 (the text names those years or PR #6766, or a build before
# LLAMACPP_2025_BUILD): (pattern, profile, release fact), first match wins
_RULES_2024 = (
    (re.compile(_LLAMACPP + r".*" + _NO_GRAPHS, re.I),
     "llamacpp-2024-eager", "llama.cpp in 2024 without CUDA graphs (as the text says: graphs "
     "arrived with PR #6766, May 2024)"),
    (re.compile(_LLAMACPP, re.I), "llamacpp-2024",
     "llama.cpp in 2024 (the text names 2023-2024 or PR #6766): CUDA graphs, before the 2025 "
     "fusion work"),
)
# every other text: (pattern, profile, release fact), first match wins
_RULES = (
    (re.compile(_LLAMACPP + r".*" + _NO_GRAPHS, re.I), "llamacpp-eager",
     "llama.cpp without CUDA graphs (as the text says)"),
    (re.compile(_LLAMACPP, re.I), "llamacpp",
     "llama.cpp (2025-2026 unless the text names 2023-2024, PR #6766 or a build before b4400): "
     "token generation as "
     "CUDA graphs, one per device, for one sequence per step; a tensor split (tp > 1) and "
     "batches launch eagerly"),
    (re.compile(r"\bsglang\b", re.I), "sglang", "SGLang: CUDA-graph decode"),
    (re.compile(r"\bmlc(?:[- ]?llm)?\b", re.I), "mlc", "MLC LLM: a TVM-compiled engine"),
    (re.compile(r"\b(exllama(?:v2)?|tabby ?api)\b", re.I), "exllamav2",
     "ExLlamaV2 (TabbyAPI serves it): fused quantized kernels"),
    (re.compile(r"\bvllm\b", re.I), "vllm",
     "vLLM: CUDA-graph decode by default from 0.2.5 (eager mode, older or --enforce-eager, "
     "is ~1.5 ms/step slower on a 7B model: inside the spread between frameworks)"),
    (re.compile(r"\b(tensorrt[- ]?llm|trt[- ]?llm)\b.*\b(pytorch|v?1\.\d+)", re.I),
     "trtllm-pytorch",
     "TensorRT-LLM's PyTorch backend (named, or TensorRT-LLM 1.x, where it is the default: "
     "TensorRT-LLM 1.0 release notes): a Python executor loop"),
    (re.compile(r"\b(tensorrt[- ]?llm|trt[- ]?llm|nemo|nim|fastertransformer)\b", re.I), "trtllm",
     "TensorRT-LLM engine (NeMo inference and NIM serve TensorRT-LLM engines; "
     "FasterTransformer is its predecessor)"),
)


def _version(text: str):
    m = _VERSION.search(text)
    return tuple(int(g or 0) for g in m.groups()) if m else None


def runtime_for_framework(framework: str) -> tuple[str, str]:
    """(profile name, reason) for a framework description such as ``"HF TGI 1.0.3"``."""
    text = str(framework or "")
    hit = _TGI.search(text)
    if hit:
        version = _version(text[hit.end():])
        if version is None:
            return "tgi", f"{_TGI_FACT}; no version given"
        this = f"; this is {'.'.join(map(str, version))}"
        return ("tgi-eager" if version < (2, 0, 0) else "tgi"), _TGI_FACT + this
    build = _llamacpp_build(text)
    if build is not None and build < LLAMACPP_2025_BUILD:
        name, fact = _by_rules(text, _RULES_2024)
        return name, f"{fact}; build {build} is from 2023-2024 (before b{LLAMACPP_2025_BUILD})"
    if re.search(_Y2024, text, re.I):
        hit = _by_rules(text, _RULES_2024, None)
        if hit:
            return hit
    return _by_rules(text, _RULES)


def _by_rules(text: str, rules, default=("compiled", "default: CUDA graphs / C++ runtime")):
    for pat, name, fact in rules:
        if pat.search(text):
            return name, fact
    return default


def _llamacpp_build(text: str):
    """The llama.cpp build number a framework text names, or None (not llama.cpp, or none)."""
    if not re.search(_LLAMACPP, text, re.I):
        return None
    m = _LLAMACPP_BUILD.search(text)
    return int(next(g for g in m.groups() if g)) if m else None
