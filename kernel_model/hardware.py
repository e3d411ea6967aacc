"""GPU and interconnect presets.

Every number carries its unit in its name (``_tflops`` = 1e12 FLOP/s dense tensor-core peak,
``_gbps`` = 1e9 bytes/s, ``_gb`` = 1e9 bytes, ``_s`` = seconds, ``_w`` = watts) and a source.
One exception: ``GPU.memory_gb`` is the capacity as the datasheet prints it, and GPU memory
is sold in binary units ("80 GB" of HBM2e = 80 GiB = 81,920 MiB), so it is read as GiB; what
the engine allocates from is :attr:`GPU.capacity_bytes` (the driver's total where known).
Interconnect bandwidths are the achieved one-direction bus bandwidth per GPU that a ring
all-reduce sees (see ``shared/REFERENCE.md``); latency is per hop.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, asdict, replace

from . import gpu_peaks as pk
from .gpu_memory import preset_facts
from .names import closest, unknown   # noqa: F401  (also imported from here)

REF = "shared/REFERENCE.md (vendor datasheets)"


@dataclass(frozen=True)
class GPU:
    name: str
    bf16_tflops: float          # dense BF16/FP16 tensor-core peak, 1e12 FLOP/s
    fp8_tflops: float | None    # dense FP8 peak, None where the hardware has none
    hbm_gbps: float             # peak memory bandwidth, 1e9 bytes/s
    memory_gb: float            # capacity as the datasheet prints it ("80 GB"): binary, GiB
    tdp_w: float                # board power at full load, W
    idle_w: float               # static power when idle, W
    family: str                 # ampere | hopper | blackwell | ada | cdna3
    native_link: str            # interconnect preset GPUs of this kind usually have
    source: str = REF
    notes: str = ""
    fp4_tflops: float | None = None   # dense FP4 (NVFP4 / MXFP4) peak, None where the hardware has none
    peak_source: str = ""             # where the FP8 / FP4 peaks (or their absence) come from
    memory_mib: float | None = None   # total the driver reports (nvidia-smi / amd-smi), MiB:
                                      # ECC and firmware carve-outs taken; None: memory_gb GiB
    memory_source: str = ""           # where memory_mib comes from
    host_staged_gbps: float | None = None  # bus bandwidth NCCL reaches staging through host
                                           # memory (no P2P), 1e9 B/s; None: the link's
    host_staged_source: str = ""           # where host_staged_gbps comes from
    fp4_gemm_ratio: float = 1.0       # large FP4 GEMMs' achieved fraction of the FP4 peak, over
                                      # 16-bit GEMMs' fraction of theirs (1: no benchmark says less)
    gemm_ratio_source: str = ""       # where fp4_gemm_ratio comes from

    @property
    def capacity_bytes(self) -> float:
        """Bytes the runtime allocates from (weights, KV cache, activations): the driver's
        total where known (``memory_mib`` x 2^20), else the datasheet figure read as GiB."""
        if self.memory_mib:
            return float(self.memory_mib) * 2 ** 20
        return float(self.memory_gb) * 2 ** 30

    @property
    def capacity_label(self) -> str:
        """The capacity as people quote it: '80 GiB' (or '44.99 GiB of 48' where the driver
        reserves part of the datasheet's figure)."""
        gib = self.capacity_bytes / 2 ** 30
        if abs(gib - self.memory_gb) < 0.05:
            return f"{self.memory_gb:g} GiB"
        return f"{gib:.4g} GiB of {self.memory_gb:g}"

    def sustained_tflops(self, math: str) -> float | None:
        """The peak :meth:`math_tflops` gives, scaled for FP4 by ``fp4_gemm_ratio``: the
        figure the engine's GEMM efficiency applies to."""
        peak = self.math_tflops(math)
        return peak * self.fp4_gemm_ratio if peak and math == "fp4" else peak

    def math_tflops(self, math: str) -> float | None:
        """Dense tensor-core peak (1e12 FLOP/s) for ``math`` ("16", "fp8", "fp4"); None where
        the GPU has no such tensor cores."""
        return {"16": self.bf16_tflops, "fp8": self.fp8_tflops, "fp4": self.fp4_tflops}[math]

    def peak_flops(self, weight_bits: int) -> float:
        """Dense peak in FLOP/s used for GEMMs with ``weight_bits`` weights.

        8-bit weights run as FP8 where the GPU has FP8 tensor cores; otherwise (and for
        4-bit weight-only quantisation) the math runs at the 16-bit peak.
        """
        if weight_bits == 8 and self.fp8_tflops:
            return self.fp8_tflops * 1e12
        return self.bf16_tflops * 1e12


@dataclass(frozen=True)
class Interconnect:
    name: str
    bw_gbps: float              # bus bandwidth a large ring all-reduce reaches, 1e9 bytes/s
                                # (network presets: the NIC share of one GPU)
    latency_s: float            # one ring step with NCCL's low-latency protocol, seconds
    paired_hbm_gbps: float      # HBM bandwidth the old CLI paired with this preset, 1e9 B/s
    kind: str                   # pcie | nvlink | fabric | network
    in_switch: bool = False     # the switch reduces (NVLS / SHARP-style)
    p2p: bool = True            # GPUs can write each other's memory (one/two-shot collectives)
    host_staged: bool = False   # no peer-to-peer: NCCL copies through host memory
    cross_socket: bool = False  # the GPUs sit on two CPU sockets: the ring crosses the socket link
    socket_gbps: float | None = None  # that link's bus-bandwidth cap, 1e9 B/s (None: the
                                      # collective constant socket_bw_gbps)
    nvls_gbps: float | None = None  # payload bandwidth of in-switch reduction, 1e9 B/s
    description: str = ""
    stands_for: str = ""        # the measured systems (kernel_model/data/collectives.csv) behind it
    source: str = "fitted to kernel_model/data/collectives.csv (see docs/INTERCONNECTS.md)"

    @property
    def socket_bw_gbps(self) -> float:
        """Bus-bandwidth cap (1e9 B/s) where the ring crosses the socket link: this preset's
        own ``socket_gbps``, else the collectives' fitted ``socket_bw_gbps``."""
        return self.socket_gbps or COLLECTIVE_CONSTANTS["socket_bw_gbps"]

    def bus_gbps(self, host_staged_gbps: float | None = None) -> float:
        """Bus bandwidth (1e9 B/s) a ring reaches: a GPU's own rate through host memory
        (``GPU.host_staged_gbps``) on a host-staged link, else this preset's."""
        return host_staged_gbps if (host_staged_gbps and self.host_staged) else self.bw_gbps


# Protocol constants of NCCL-style collectives, fitted on kernel_model/data/collectives.csv
# (benchmarks/bench_collectives.py prints the fit): properties of how NCCL runs, not of a link.
COLLECTIVE_CONSTANTS = {
    "eager_call_s": 6.15e-06,   # one collective call launched eagerly (nccl-tests, no CUDA graph)
    "ll_frac": 0.61,      # LL: 8 data bytes per 16-byte line, above half with LL128 on NVLink
    "simple_lat": 1.51,       # Simple protocol: step latency x this (handshakes per chunk)
    "simple_call_s": 2.65e-05,   # Simple protocol: extra fixed cost per call
    "socket_lat": 2.7,       # a host-staged ring step across the CPU sockets costs this x the latency
    "socket_bw_gbps": 38.0,       # bus bandwidth cap when the ring crosses the socket link
    "direct_frac": 0.675,       # one/two-shot kernels: share of the bus bandwidth n-1 peers reach
    "direct_call": 0.974,      # one/two-shot kernels: fixed cost per call, x NCCL's
    # one NCCL channel's bus bandwidth over PCIe, measured, not fitted: 2 channels 22.2 GB/s
    # (8 RTX PRO 6000 on dual Turin, default graph; rtx6kpro optimization/nccl-tuning.md)
    "chan_bw_gbps": 11.1,
    # an all-to-all (NCCL runs it as grouped send/receive pairs, one per peer) costs this much
    # more per call than a collective of as many steps; measured, not fitted with the rest: the
    # median excess over the model without it of the 10 all-to-all rows, 2 RTX 4090 through
    # host memory (tinygrad open-gpu-kernel-modules #17: 2.5-3.1 us; the same box with P2P
    # measured the same 12 us) and 8 H20 on NVSwitch (DeepEP #303: 1.9-2.6 us;
    # benchmarks/data/nccl-alltoall-h20-x8.csv); tools/fit_collectives.py --a2a recomputes it
    "a2a_call_s": 2.5e-06,
}


GPUS: dict[str, GPU] = {g.name: g for g in [
    GPU("a100-sxm-40gb", 312, None, 1555, 40, 400, 60, "ampere", "nvlink", peak_source=pk.AMP),
    GPU("a100-sxm-80gb", 312, None, 2039, 80, 400, 60, "ampere", "nvlink", peak_source=pk.AMP),
    GPU("a100-pcie-80gb", 312, None, 1935, 80, 300, 50, "ampere", "pcie4_good",
        notes="no NVLink unless bridged", peak_source=pk.AMP),
    GPU("h100-sxm", 989, 1979, 3350, 80, 700, 90, "hopper", "nvlink4", peak_source=pk.HOP),
    GPU("h100-pcie", 756, 1513, 2000, 80, 350, 60, "hopper", "pcie5_good", peak_source=pk.HOP),
    GPU("h200-sxm", 989, 1979, 4800, 141, 700, 90, "hopper", "nvlink4", peak_source=pk.HOP),
    GPU("b200", 2250, 4500, 8000, 192, 1000, 120, "blackwell", "nvlink5",
        notes="sources give 7700-8000 GB/s (8000 chosen) and 180-192 GB: both capacities are "
              "right, in GiB and in 1e9 bytes, of the 183359 MiB the driver reports",
        fp4_tflops=9000, peak_source=pk.B200, fp4_gemm_ratio=pk.SM100_FP4,
        gemm_ratio_source=pk.SM100_FP4_SRC),
    GPU("gb200", 2500, 5000, 8000, 192, 1200, 120, "blackwell", "nvlink5",
        source="NVIDIA GB200 NVL72 datasheet (per GPU: 1/72 of the rack figures)",
        notes="Blackwell GPU of a GB200 superchip (2 GPUs + 1 Grace CPU, 384 GB HBM3e); the "
              "NVL72 rack lists 13.4 TB (186 GB per GPU), 192 GB as TensorRT-LLM quotes; the "
              "driver reports 189471 MiB (185 GiB); "
              "power: ~1200 W per GPU of the 2700 W superchip",
        fp4_tflops=10000, peak_source=pk.GB200, fp4_gemm_ratio=pk.SM100_FP4,
        gemm_ratio_source=pk.SM100_FP4_SRC),
    GPU("mi300x", 1307, 2615, 5300, 192, 750, 100, "cdna3", "infinity_fabric", peak_source=pk.CDNA3),
    GPU("mi325x", 1307, 2615, 6000, 256, 1000, 110, "cdna3", "infinity_fabric",
        source="AMD Instinct MI325X datasheet (1307.4 TFLOPS BF16 dense, 256 GB HBM3E at "
               "6.0 TB/s, 1000 W)", peak_source=pk.CDNA3),
    GPU("l40s", 362, 733, 864, 48, 350, 40, "ada", "pcie4_good", notes="PCIe only", peak_source=pk.ADA),
    GPU("a10g", 125, None, 600, 24, 300, 30, "ampere", "pcie4_bad",
        notes="PCIe only; 125 TFLOPS peak (often quoted 70 sustained); AWS g5 only, where the "
              "A10Gs have no PCIe P2P: NCCL stages through host memory (NO_P2P)",
        peak_source=pk.AMP),
    GPU("rtx-4090", 165, 330, 1008, 24, 450, 30, "ada", "pcie4_bad",
        notes="PCIe only; FP16 with FP32 accumulate 82.6 TFLOPS", peak_source=pk.ADA),
    GPU("rtx-3090", 71, None, 936, 24, 350, 30, "ampere", "pcie4_bad",
        notes="NVLink bridge optional", peak_source=pk.AMP),
    GPU("rtx-3090-ti", 80, None, 1008, 24, 450, 30, "ampere", "pcie4_bad",
        source="NVIDIA GeForce RTX 3090 Ti specifications (24 GB GDDR6X at 1008 GB/s, 450 W); "
               "tensor peak: the RTX 3090's 71 TFLOPS x 10752 / 10496 CUDA cores x 1.86 / "
               "1.70 GHz boost", notes="GeForce: no P2P on the stock driver", peak_source=pk.AMP),
    GPU("rtx-pro-6000", 470, 940, 1792, 96, 600, 40, "blackwell", "pcie5_good",
        notes="Blackwell workstation card, PCIe 5", fp4_tflops=2000, peak_source=pk.RTXP),
    # more datacenter and workstation cards (dense peaks: half the datasheets' sparse figures)
    GPU("a100-pcie-40gb", 312, None, 1555, 40, 250, 50, "ampere", "pcie4_good",
        source="NVIDIA A100 datasheet (A100 40GB PCIe: 1555 GB/s, 250 W)",
        notes="no NVLink unless bridged", peak_source=pk.AMP),
    GPU("h100-nvl", 835, 1671, 3900, 94, 400, 60, "hopper", "nvlink_bridge",
        source="NVIDIA H100 datasheet, H100 NVL column (BF16 1671 / FP8 3341 TFLOPS with "
               "sparsity, 94 GB HBM3 at 3.9 TB/s, 350-400 W)",
        notes="PCIe card; pairs joined by NVLink bridges (600 GB/s)", peak_source=pk.HOP),
    GPU("h200-nvl", 835, 1671, 4800, 141, 600, 60, "hopper", "nvlink_bridge",
        source="NVIDIA H200 datasheet, H200 NVL column (BF16 1671 / FP8 3341 TFLOPS with "
               "sparsity, 141 GB HBM3e at 4.8 TB/s, up to 600 W)",
        notes="PCIe card; 2- or 4-way NVLink bridges (900 GB/s; the nvlink_bridge preset is "
              "H100 NVL's 600 GB/s bridge, so bridged collectives are a little slow here)",
        peak_source=pk.HOP),
    GPU("gh200", 989, 1979, 4000, 96, 700, 90, "hopper", "nvlink4", peak_source=pk.HOP,
        source="NVIDIA GH200 Grace Hopper Superchip datasheet (H100 GPU: FP8 3958 / BF16 1979 "
               "TFLOPS with sparsity, 96 GB HBM3 at 4 TB/s; module 450-1000 W with the CPU)",
        notes="the 96 GB HBM3 GPU (the 144 GB HBM3e one: 4.9 TB/s); H100 SXM's 700 W"),
    GPU("h20", 148, 296, 4000, 96, 400, 60, "hopper", "nvlink4",
        source="NVIDIA HGX H20 product brief as reported (BF16 148 / FP8 296 TFLOPS dense, "
               "96 GB HBM3 at 4.0 TB/s, NVLink 900 GB/s, 400 W)",
        notes="export-compliant Hopper: full NVLink and HBM, a seventh of H100's math",
        peak_source=pk.HOP),
    GPU("l4", 121, 242, 300, 24, 72, 16, "ada", "pcie4_bad",
        source="NVIDIA L4 datasheet (BF16 242 / FP8 485 TFLOPS with sparsity, 24 GB GDDR6 at "
               "300 GB/s, 72 W)", notes="PCIe only; a cloud card: AWS g6 has no PCIe P2P "
               "(NO_P2P)", peak_source=pk.ADA),
    GPU("l40", 181, 362, 864, 48, 300, 35, "ada", "pcie4_good",
        source="NVIDIA L40 datasheet (BF16 362 / FP8 724 TFLOPS with sparsity, 48 GB GDDR6 at "
               "864 GB/s, 300 W)", notes="PCIe only", peak_source=pk.ADA),
    GPU("rtx-a6000", 155, None, 768, 48, 300, 25, "ampere", "pcie4_good",
        source="NVIDIA RTX A6000 datasheet (tensor 309.7 TFLOPS with sparsity, 48 GB GDDR6 at "
               "768 GB/s, 300 W)", notes="workstation card; NVLink bridge pairs optional",
        peak_source=pk.AMP),
    GPU("rtx-6000-ada", 364, 728, 960, 48, 300, 25, "ada", "pcie4_good",
        source="NVIDIA RTX 6000 Ada Generation datasheet (FP8 1457 TFLOPS with sparsity, "
               "48 GB GDDR6 at 960 GB/s, 300 W)", notes="workstation card, PCIe only",
        peak_source=pk.ADA),
    # China-market SXM parts: the H100 / A100 chip and memory, 8 NVLinks instead of 18 / 12
    GPU("h800-sxm", 989, 1979, 3350, 80, 700, 90, "hopper", "nvlink4_h800",
        source="NVIDIA H800 SXM5 datasheet (BF16 1979 / FP8 3958 TFLOPS with sparsity, 80 GB HBM3 "
               "at 3.35 TB/s, NVLink 400 GB/s, 700 W)",
        notes="H100 SXM compute and memory; NVLink 400 GB/s (8 links)", peak_source=pk.HOP),
    GPU("a800-sxm-80gb", 312, None, 2039, 80, 400, 60, "ampere", "nvlink3_a800",
        source="NVIDIA A800 SXM4 80GB datasheet (BF16 624 TFLOPS with sparsity, 80 GB HBM2e at "
               "2039 GB/s, NVLink 400 GB/s, 400 W)",
        notes="A100 SXM compute and memory; NVLink 400 GB/s (8 links)", peak_source=pk.AMP),
    GPU("rtx-5090", 209.5, 419, 1792, 32, 575, 30, "blackwell", "pcie4_bad",
        source="NVIDIA GeForce RTX 5090 specifications (32 GB GDDR7 at 1792 GB/s, 575 W, "
               "3352 AI TOPS = FP4 with sparsity)",
        notes="GeForce: no P2P on the stock driver (host-staged, as rtx-4090); PCIe 5",
        fp4_tflops=838, peak_source=pk.RTX5090),
    GPU("b300", 2250, 4500, 8000, 288, 1400, 120, "blackwell", "nvlink5",
        source="NVIDIA HGX B300 (Blackwell Ultra) figures per GPU, see peak_source",
        notes="Blackwell Ultra: B200's BF16 / FP8 peaks and HBM bandwidth, 1.5x its memory "
              "and dense FP4", fp4_tflops=13125, peak_source=pk.B300,
        fp4_gemm_ratio=pk.SM100_FP4, gemm_ratio_source=pk.SM100_FP4_SRC + " (B200's, carried over)"),
    # cloud datacenter cards (dense peaks: half the datasheets' sparse figures)
    GPU("a40", 149.7, None, 696, 48, 300, 35, "ampere", "pcie4_good",
        source="NVIDIA A40 datasheet (BF16 149.7 / 299.4 TFLOPS with sparsity, 48 GB GDDR6 with "
               "ECC at 696 GB/s, 300 W, NVLink bridge 112.5 GB/s)", peak_source=pk.AMP,
        notes="GA102 (the RTX 3090's chip); pairs may be joined by NVLink bridges"),
    GPU("a30", 165, None, 933, 24, 165, 30, "ampere", "pcie4_good",
        source="NVIDIA A30 datasheet (BF16 165 / 330 TFLOPS with sparsity, 24 GB HBM2 at "
               "933 GB/s, 165 W, NVLink bridge 200 GB/s)", peak_source=pk.AMP,
        notes="GA100 (the A100's chip) at half its SMs' width"),
    GPU("t4", 65, None, 320, 16, 70, 15, "turing", "pcie4_bad",
        source="NVIDIA T4 datasheet (FP16 tensor 65 TFLOPS, INT8 130 TOPS, 16 GB GDDR6 at "
               "320 GB/s, 70 W, PCIe 3.0)", peak_source="Turing tensor cores: FP16 / INT8 / "
        "INT4, no BF16, FP8 or FP4 (T4 datasheet)",
        notes="PCIe 3.0 card: its own link is the host-staged preset (NO_P2P); its FP16 peak "
              "stands for the 16-bit math"),
    GPU("gb10", 125, 250, 273, 128, 140, 30, "blackwell", "roce",
        source="NVIDIA DGX Spark (GB10 Grace Blackwell superchip), see peak_source",
        notes="desktop superchip: a Blackwell GPU (6144 CUDA cores) on 128 GB of LPDDR5x "
              "unified memory; two units join over ConnectX-7 200 GbE", fp4_tflops=500,
        peak_source=pk.GB10),
]}

# what the driver and the host path give each preset (kernel_model/gpu_memory.py)
GPUS = {n: replace(g, **preset_facts(n)) for n, g in GPUS.items()}
_BUILTIN_GPUS = frozenset(GPUS)

# GPUs whose own link is host-staged PCIe, and why (the reason a row's generic "pcie" gets)
NO_P2P = {
    "a10g": "AWS g5 instances: NCCL runs between A10Gs over shared host memory (SHM), "
            "NVIDIA/nccl#1298",
    "l4": "AWS g6 instances have no PCIe P2P (llm-d-infra PR #181)",
    "t4": "the one measured T4 pair (collectives file, PCIe-T4-x2-SYS) ran NCCL through host "
          "memory; PCIe 3.0 P2P has no preset",
}
GEFORCE_NO_P2P = "GeForce: no P2P on the stock driver"

# Passively cooled PCIe datacenter cards with P2P: they run in servers only, and two-socket
# GPU servers split their GPUs evenly over the sockets, two per socket in a 4-GPU server
# (Dell PowerEdge R750xa: NVLink bridges join "pairs of A100s that are on the same CPU",
# ServeTheHome's review; PowerEdge C4130 configuration G: GPUs 1-2 on processor 1, 3-4 on
# processor 2; Supermicro SYS-4029GP-TRT: "the two CPUs communicate with GPUs to provide
# balanced performance"). Both 4-GPU datacenter boxes of benchmarks/data/nccl-pcie-datacenter
# .csv (A100-PCIe, A40) span two sockets. Workstation and GeForce cards are not listed.
SERVER_PCIE = frozenset({"a100-pcie-40gb", "a100-pcie-80gb", "h100-pcie", "h100-nvl",
                         "h200-nvl", "l40", "l40s", "a40", "a30"})

INTERCONNECTS: dict[str, Interconnect] = {i.name: i for i in [
    Interconnect("pcie4_good", 25.5, 9.52e-07, 900, "pcie",
                 description="PCIe 4.0, direct GPU-to-GPU P2P",
                 stands_for="PCIe-4090-x4/x5-tinygradP2P (RTX 4090, P2P driver)"),
    Interconnect("pcie4_bad", 3.11, 2.63e-06, 900, "pcie", p2p=False, host_staged=True,
                 description="PCIe without P2P: NCCL stages through host memory (GeForce, stock driver)",
                 stands_for="PCIe-4090-x2/x4-kalavai, PCIe-2080Ti-x2-noP2P, PCIe-4070TiS-x2-noP2P, "
                            "PCIe-4090-x8, PCIe-3090-x8, PCIe-T4-x2-SYS (cross-socket)"),
    Interconnect("pcie5_good", 43.4, 9.52e-07, 1000, "pcie",
                 description="PCIe 5.0 with P2P through switches, one CPU socket",
                 stands_for="PCIe-RTXPRO6000 x4/x8 on switches or one socket (ASUS-Broadcom x4, "
                            "WRX90, Grimulkan, luke, x4-dualTurin, x16-islands)"),
    Interconnect("pcie5_bad", 43.4, 9.52e-07, 1000, "pcie", cross_socket=True,
                 description="PCIe 5.0 with P2P, GPUs split over two CPU sockets",
                 stands_for="PCIe-RTXPRO6000 x8 dual-socket (ASUS-Broadcom dualsocket, Festr, "
                            "dualTurin-tuner, purplepow3r)"),
    # eight PCIe 4.0 cards with P2P in one server: 8 x16 slots take 128 lanes, two sockets on
    # the servers that carry them, so an 8-GPU ring crosses the socket link twice; that link
    # is capped at the bandwidth NCCL's own topology model gives it on AMD hosts (AMD_BW,
    # 16 GB/s, src/graph/topo.h; Skylake-era Intel 10, Sapphire Rapids 22), not fitted
    Interconnect("pcie4_dual_socket", 25.5, 9.52e-07, 900, "pcie", cross_socket=True,
                 socket_gbps=16.0,
                 description="PCIe 4.0 with P2P, GPUs split over two CPU sockets (socket link "
                             "16 GB/s, NCCL's AMD_BW)",
                 stands_for="no collectives table: pcie4_good's link and NCCL's socket-link "
                            "figure; checked on TensorRT-LLM's TP 4 / 8 rows on L40S and "
                            "A100-PCIe (benchmarks/data/trtllm-perf-overview-l40s-a100pcie.csv)",
                 source="pcie4_good (fitted to kernel_model/data/collectives.csv) + NCCL "
                        "src/graph/topo.h AMD_BW"),
    Interconnect("nvlink", 232, 3.32e-06, 2039, "nvlink", description="NVLink 3.0 (A100, NVSwitch)",
                 stands_for="NVL-A100-x8, EFA-A100-1node"),
    Interconnect("nvlink4", 341, 7.98e-07, 3350, "nvlink", True, nvls_gbps=275,
                 description="NVLink 4.0 (H100/H200/H20, NVSwitch with NVLS)",
                 stands_for="NVL-H200-x8, NVL-H20-intranode"),
    Interconnect("nvlink5", 682, 7.98e-07, 8000, "nvlink", True, nvls_gbps=480,
                 description="NVLink 5.0 (B200/GB200, NVSwitch with NVLS; NVL72 is one domain)",
                 stands_for="NVL-B200-x8, NVL-GB200-NVL72"),
    Interconnect("nvlink_bridge", 116, 1.0e-6, 2000, "nvlink",
                 description="NVLink bridge between two PCIe cards (H100 NVL, RTX 3090 pairs)",
                 stands_for="NVLbridge-H100PCIe-x2"),
    Interconnect("infinity_fabric", 200, 3e-6, 5300, "fabric", description="AMD Infinity Fabric (MI300)",
                 stands_for="none measured: the old CLI's values", 
                 source="shared/REFERENCE.md (old CLI preset values)"),
    Interconnect("ib_hdr", 14.2, 5e-6, 2039, "network", p2p=False,
                 description="InfiniBand HDR, multi-node (per-GPU NIC share)",
                 stands_for="IB-A100-3node-HDR (4 HDR NICs per 8 GPUs)"),
    Interconnect("ib_ndr", 44.9, 5e-6, 3350, "network", p2p=False,
                 description="InfiniBand NDR, multi-node (one 400G NIC per GPU)",
                 stands_for="IB-H100-64-SHARP"),
    Interconnect("roce", 57.3, 1.54e-05, 3350, "network", p2p=False,
                 description="RoCE (RDMA over Ethernet), multi-node",
                 stands_for="NET-H100-2node-1gpu-4nic, NET-GB10-2node-200G"),
    Interconnect("efa", 4.11, 1.97e-05, 2039, "network", p2p=False,
                 description="AWS EFA (p3dn/p4d generation), multi-node",
                 stands_for="EFA-A100-2/3/4node, EFA-V100-2/8node"),
    Interconnect("tcp", 9.06, 3.82e-06, 2039, "network", p2p=False,
                 description="NCCL socket transport (TCP, IB disabled), multi-node",
                 stands_for="NET-L40S-2node-socket, NET-H200-2node-socket"),
    Interconnect("tcpxo", 17.6, 3.46e-05, 3350, "network", p2p=False,
                 description="GCP GPUDirect-TCPXO (NIC-offloaded TCP, 8 NICs per node)",
                 stands_for="NET-H100-2node-TCPXO"),
]}



def _fewer_links(base: str, name: str, links: int, of: int, gpu: str) -> Interconnect:
    """``base`` with ``links`` of its ``of`` NVLinks per GPU (H800, A800): the same switch and
    step latency, every bandwidth (ring and NVLS) scaled by links / of. Derived, not fitted:
    no measured table of these systems is in the collectives file."""
    b = INTERCONNECTS[base]
    f = links / of
    return Interconnect(
        name, round(b.bw_gbps * f, 1), b.latency_s, b.paired_hbm_gbps, b.kind, b.in_switch,
        nvls_gbps=round(b.nvls_gbps * f, 1) if b.nvls_gbps else None,
        description=f"{b.description.split(' (')[0]} with {links} of {of} links per GPU ({gpu})",
        stands_for=f"none measured: {base} x {links}/{of}",
        source=f"{base} (fitted on collectives.csv) x {links}/{of}: the {gpu} datasheet's "
               f"NVLink 400 GB/s is {links} of the full part's {of} links")


#: presets derived from another with fewer NVLinks: name -> (base, links, of, GPU). A row that
#: names the base on such a GPU is read as the GPU's own, fewer-link preset.
FEWER_LINKS = {"nvlink4_h800": ("nvlink4", 8, 18, "H800"), "nvlink3_a800": ("nvlink", 8, 12, "A800")}


def derive_fewer_links() -> None:
    """(Re)build the :data:`FEWER_LINKS` presets from their bases (after a refit of a base)."""
    for name, (base, links, of, gpu) in FEWER_LINKS.items():
        INTERCONNECTS[name] = _fewer_links(base, name, links, of, gpu)


derive_fewer_links()

INTERCONNECT_ALIASES = {"nvlink3": "nvlink", "mi300": "infinity_fabric", "pcie5_switch": "pcie5_good",
                        "pcie_host": "pcie4_bad", "pcie5_dual_socket": "pcie5_bad",
                        "pcie4_cross_socket": "pcie4_dual_socket",
                        "xgmi": "infinity_fabric"}
# other spellings; "gb300" is B300's die at a higher power limit (peaks a few % higher)
GPU_ALIASES = {"a100": "a100-sxm-80gb", "h100": "h100-sxm", "h200": "h200-sxm", "4090": "rtx-4090",
               "3090": "rtx-3090", "3090-ti": "rtx-3090-ti", "5090": "rtx-5090", "gb200-nvl72": "gb200",
               "rtx-pro-6000-blackwell": "rtx-pro-6000", "mi300": "mi300x", "mi325": "mi325x",
               "a6000": "rtx-a6000", "a10": "a10g", "6000-ada": "rtx-6000-ada", "h800": "h800-sxm",
               "a800": "a800-sxm-80gb", "dgx-spark": "gb10", "spark": "gb10", "b300-sxm": "b300",
               "blackwell-ultra": "b300", "gb300": "b300", "gb300-nvl72": "b300",
               "gh200-96gb": "gh200", "grace-hopper": "gh200"}

# The typical GPU of each preset (the old CLI's --preset picked one GPU per preset).
TYPICAL_GPU = {
    "pcie4_good": "rtx-4090", "pcie4_bad": "rtx-4090", "pcie5_good": "rtx-4090",
    "pcie5_bad": "rtx-4090", "pcie4_dual_socket": "l40s", "nvlink": "a100-sxm-80gb",
    "nvlink4": "h100-sxm", "nvlink5": "b200", "infinity_fabric": "mi300x", "ib_hdr": "a100-sxm-80gb",
    "ib_ndr": "h100-sxm", "nvlink_bridge": "h100-pcie", "roce": "h100-sxm", "efa": "a100-sxm-80gb",
    "tcp": "h100-sxm", "tcpxo": "h100-sxm", "nvlink4_h800": "h800-sxm", "nvlink3_a800": "a800-sxm-80gb",
}


# vendor and system words: an HGX / DGX system's GPUs are its SXM boards ("HGX B200", "DGX H100")
_VENDOR_WORDS = {"nvidia", "geforce", "tesla", "amd", "instinct", "radeon", "hgx", "dgx"}
# words that name no different chip: memory type, edition, "generation" (RTX 6000 Ada ...)
_SPARE_WORDS = {"hbm2", "hbm2e", "hbm3", "hbm3e", "gddr6", "gddr6x", "gddr7", "gpu", "server",
                "edition", "generation", "workstation", "blackwell", "max-q", "sxm", "oam"}


def canonical_gpu(name) -> str | None:
    """The preset a GPU's usual spellings stand for (``"NVIDIA H100 80GB HBM3"``,
    ``"A100-SXM4-40GB"``, ``"GeForce RTX 4090"``, ``"rtx4090"``), or None. Rules, in order:
    lower case, spaces and underscores as hyphens, vendor words dropped, ``sxm4``/``sxm5``/...
    read as ``sxm``, ``rtxNNNN`` as ``rtx-NNNN``; then the name itself, the name with its memory
    size last (``a100-80gb-pcie`` -> ``a100-pcie-80gb``), the SXM board of that size
    (``a100-40gb`` -> ``a100-sxm-40gb``, as nvidia-smi names SXM parts), and the longest preset
    whose words start the name where the words left over name no other chip (a memory size
    or type, the SXM / OAM form factor, "server edition": ``h100-80gb-hbm3`` -> ``h100`` ->
    ``h100-sxm``, ``"B200 SXM6 180GB"`` -> ``b200``; never ``a100-pcie`` -> ``a100``)."""
    words = re.sub(r"[\s_]+", "-", str(name).strip().lower())
    words = re.sub(r"\bsxm\d\b", "sxm", re.sub(r"\brtx(?=\d)", "rtx-", words))
    toks = [t for t in words.split("-") if t and t not in _VENDOR_WORDS]
    known = {**{g: g for g in GPUS}, **GPU_ALIASES}
    mem = [t for t in toks if re.fullmatch(r"\d+gb", t)]
    rest = [t for t in toks if t not in mem]
    tries = ["-".join(toks), "-".join(rest + mem)]
    if rest and mem:
        tries.append("-".join(rest[:1] + ["sxm"] + rest[1:] + mem))
    for t in tries:
        if t in known:
            return known[t]
    for k in sorted(known, key=lambda k: -len(k.split("-"))):
        kt = k.split("-")
        left = toks[len(kt):]
        if toks[:len(kt)] == kt and all(t in mem or t in _SPARE_WORDS for t in left):
            return known[k]
    return None


def get_gpu(name: str) -> GPU:
    key = str(name).lower()
    key = GPU_ALIASES.get(key, key)
    if key not in GPUS:
        key = canonical_gpu(name)
        if key is None:
            raise unknown("gpu", name, list(GPUS) + list(GPU_ALIASES))
    return GPUS[key]


def register_gpu(gpu: GPU, replace: bool = False) -> GPU:
    """Add a GPU preset (e.g. from a YAML description); a built-in name needs ``replace``."""
    if gpu.name in _BUILTIN_GPUS and not replace:
        raise ValueError(f"gpu={gpu.name!r} is a built-in preset; pick another name")
    GPUS[gpu.name] = gpu
    return gpu


def get_interconnect(name: str) -> Interconnect:
    key = str(name).lower()
    if key not in INTERCONNECTS and key not in INTERCONNECT_ALIASES:
        key = re.sub(r"[-\s]+", "_", key.strip())      # "infinity-fabric", "ib ndr"
    key = INTERCONNECT_ALIASES.get(key, key)
    if key not in INTERCONNECTS:
        raise unknown("interconnect", name, list(INTERCONNECTS) + list(INTERCONNECT_ALIASES))
    return INTERCONNECTS[key]


def inter_node_for(gpu: GPU) -> Interconnect:
    """The InfiniBand preset that joins 8-GPU nodes of this GPU's generation."""
    return INTERCONNECTS["ib_hdr" if gpu.family == "ampere" else "ib_ndr"]


def list_gpus() -> list[str]:
    return list(GPUS)


def list_interconnects() -> list[str]:
    return list(INTERCONNECTS)


def gpu_table():
    import pandas as pd
    return pd.DataFrame([asdict(g) for g in GPUS.values()])


def interconnect_table():
    import pandas as pd
    return pd.DataFrame([asdict(i) for i in INTERCONNECTS.values()])
