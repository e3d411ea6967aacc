"""What each GPU preset's driver reports as its memory total: the bytes a runtime allocates from.

Datasheets print GPU memory in binary gigabytes ("80 GB" of HBM2e = 80 GiB = 81,920 MiB),
and the driver may keep part of it back: GDDR6 cards that ship with ECC on (A10G, L4, L40S)
give up 1/16 to it, Hopper parts keep a few hundred MiB to a few GiB, and a B200 reports
179 GiB of its eight 24 GiB stacks. The figures below are the ``Total`` that ``nvidia-smi``
(``amd-smi`` / ``rocm-smi`` for AMD) prints on current drivers, in MiB, each with where it
was read.

A preset not listed reads its datasheet figure as GiB (``GPU.capacity_bytes``). Frameworks
then take a share of this total (vLLM's ``gpu_memory_utilization``): that share is the
serving model's ``kv_cache_fraction``, not part of this table.

Also here: the bus bandwidth a GPU reaches through host memory when NCCL has no P2P (its SHM
transport; ``GPU.host_staged_gbps``), where it is measured apart from the link preset's.
"""
from __future__ import annotations

_SMI = "nvidia-smi output in "
_GH = "https://github.com/"

#: preset name -> (total MiB, source)
DRIVER_TOTAL_MIB: dict[str, tuple[int, str]] = {
    "a100-sxm-40gb": (40960, _SMI + _GH + "modal-labs/modal-client/pull/2797 (A100 40GB: "
                      "40960MiB; drivers of the R450 era printed 40536)"),
    "a100-sxm-80gb": (81920, _SMI + _GH + "thamada/nvidia-smi gls/A100SXMx4_smi.py"),
    "a100-pcie-80gb": (81920, "the A100 80GB's HBM2e; its PCIe twin NVIDIA A800 80GB PCIe prints "
                       "81920MiB (" + _GH + "vllm-project/vllm/issues/41519)"),
    "a800-sxm-80gb": (81920, _SMI + _GH + "dexmal/dexbotic/issues/41"),
    "h100-sxm": (81559, _SMI + _GH + "NVIDIA/nccl/issues/1264 (NVIDIA H100 80GB HBM3)"),
    "h100-pcie": (81559, "nvidia-smi prints of 'NVIDIA H100 PCIe' in public GitHub files (7 of 8 "
                  "agree; no single URL recorded); the same as the SXM part"),
    "h100-nvl": (95830, _SMI + _GH + "NVIDIA/gpu-admin-tools/issues/4"),
    "h200-sxm": (143771, "nvidia-smi prints of 'NVIDIA H200' in public GitHub files (8 agree; no "
                 "single URL recorded)"),
    "h20": (97871, _SMI + _GH + "NVIDIA/nvtrust/issues/128"),
    "b200": (183359, _SMI + _GH + "NVIDIA/TensorRT-LLM/issues/10278 (the datasheets' '180 GB' "
             "in GiB, '192 GB' in 1e9 bytes)"),
    "gb200": (189471, "nvidia-smi prints of 'NVIDIA GB200' in public GitHub files (5 agree, "
              "driver 595.58; no single URL recorded)"),
    "b300": (275040, "nvidia-smi prints of 'NVIDIA B300 SXM6 AC' in public GitHub files (4 agree; "
             "no single URL recorded)"),
    "mi300x": (196592, "rocm-smi VRAM Total Memory 206141652992 B, " + _GH
               + "ROCm/legacy-rocm-build/issues/4750"),
    "l40s": (46068, _SMI + _GH + "thamada/nvidia-smi gls/L40S_smi.py (ECC on, as shipped)"),
    "l40": (46068, "L40S's figure: the same 48 GB of GDDR6 with ECC on as shipped (the A40 prints "
            "46068 too); no L40 print found"),
    "l4": (23034, _SMI + _GH + "speaches-ai/speaches/pull/438 (ECC on)"),
    "a10g": (23028, _SMI + _GH + "NVIDIA/DCGM/issues/232 (ECC on, as AWS ships it)"),
    "rtx-4090": (24564, _SMI + _GH + "RLinf/RLinf/issues/255"),
    "rtx-3090": (24576, _SMI + _GH + "noonghunna/club-3090/issues/390"),
    "rtx-3090-ti": (24564, _SMI + _GH + "noonghunna/club-3090/issues/353"),
    "rtx-5090": (32607, _SMI + _GH + "noonghunna/club-3090/issues/617"),
    "rtx-pro-6000": (97887, "nvidia-smi prints of 'NVIDIA RTX PRO 6000 Blackwell' in public GitHub "
                     "files (9 agree, ECC on or off; no single URL recorded)"),
    "rtx-a6000": (49140, "nvidia-smi prints of 'NVIDIA RTX A6000' in public GitHub files (ECC off "
                  "as shipped; no single URL recorded)"),
    "rtx-6000-ada": (49140, _SMI + _GH + "thamada/nvidia-smi gls/RTX6000Ada_x8_smi.py (ECC off)"),
    "a40": (46068, "nvidia-smi prints of 'NVIDIA A40' in public GitHub files (ECC on as shipped, "
            "as the L40S; no single URL recorded)"),
    "t4": (15360, "nvidia-smi totals listed in " + _GH + "modal-labs/modal-client/pull/2797 "
           "(T4: 15360MiB, ECC on)"),
    "gb10": (124610, "CUDA's total on a DGX Spark, 121.69 GiB = the host's MemTotal (unified "
             "memory; nvidia-smi prints 'Not Supported'): " + _GH + "XuehaiPan/nvitop/pull/208"),
}

# Through host memory (NCCL SHM, no P2P) an A100 reaches 5.2 GB/s where the graphics-class
# chips pcie4_bad stands for reach 2.2-4.0 (docs/INTERCONNECTS.md, "The GPU's own rate").
_A100_SHM = (5.2, "NCCL SHM plateau of two A100 systems: DGX A100 with NCCL_P2P_DISABLE=1 "
                  "(eugenesiow/LLM-Insights) and 4 x A100-PCIe-40GB on two sockets "
                  "(xyxxxxx/panoramic); docs/INTERCONNECTS.md")
#: preset name prefix -> (host-staged bus bandwidth, 1e9 B/s; source)
HOST_STAGED_GBPS: dict[str, tuple[float, str]] = {"a100-": _A100_SHM, "a800-": _A100_SHM}


def preset_facts(name: str) -> dict:
    """The GPU fields this module holds for preset ``name`` (for ``dataclasses.replace``)."""
    out = {}
    if name in DRIVER_TOTAL_MIB:
        out["memory_mib"], out["memory_source"] = DRIVER_TOTAL_MIB[name]
    for prefix, (gbps, source) in HOST_STAGED_GBPS.items():
        if name.startswith(prefix):
            out["host_staged_gbps"], out["host_staged_source"] = gbps, source
    return out
