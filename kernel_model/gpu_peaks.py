"""Where each GPU preset's FP8 / FP4 peaks (or their absence) come from, and the share of
the FP4 peak large GEMMs sustain on B200-class Blackwell: the ``peak_source``,
``fp4_gemm_ratio`` and ``gemm_ratio_source`` of ``kernel_model.hardware``'s presets."""

AMP = "Ampere tensor cores have no FP8 or FP4 (A100 / GA10x datasheets)"
HOP = ("FP8 dense = half the datasheet's with-sparsity figure; Hopper has no FP4 tensor cores "
       "(H100 / H200 datasheets)")
ADA = ("FP8 dense = half the datasheet's with-sparsity figure; Ada has no FP4 tensor cores "
       "(L40S datasheet, Ada architecture whitepaper)")
CDNA3 = ("AMD Instinct MI300X / MI325X datasheets: FP8 2614.9 TFLOPS dense; CDNA3 has no FP4 "
         "(FP4 arrives with CDNA4, MI355X)")
B200 = ("NVIDIA DGX/HGX B200 datasheet, per GPU: FP4 18 PFLOPS and FP8 9 PFLOPS with sparsity, "
        "dense = half: 9000 / 4500 TFLOPS")
# B200-class (SM100) FP4 GEMMs sustain 0.67 of the 16-bit GEMMs' share of peak (derivation,
# and why the SM120 workstation die keeps 1: benchmarks/data/README.md, "The FP4 GEMM ratio")
SM100_FP4 = 0.67
SM100_FP4_SRC = ("vLLM PR #20646, its table before the tuned configs (B200, N=6144 K=4096, "
                 "M=4096-16384): NVFP4 41-43 % of its peak vs BF16 60-63 % of its own; ratio "
                 "median 0.67")
GB200 = ("NVIDIA GB200 NVL72 datasheet, 72 GPUs: FP4 1440 PFLOPS, FP8 720, BF16 360 (all with "
         "sparsity), HBM3e 576 TB/s; per GPU dense: 10000 / 5000 / 2500 TFLOPS, 8000 GB/s")
RTX5090 = ("GeForce RTX 5090: 3352 AI TOPS (FP4, sparse) / 2 for dense / 2 for FP32 accumulate "
           "(GeForce halves it, as the rtx-4090 preset: 1321 AI TOPS -> FP8 330) = FP4 838, "
           "FP8 419, BF16 209.5; the same as the RTX 4090's 165 scaled by 170 vs 128 SMs at "
           "2.41 vs 2.52 GHz boost (x 1.27)")
B300 = ("glennklockwood.com/garden/processors/B300 (NVIDIA HGX B300 figures, per GPU, dense): "
        "BF16 2250, FP8 4500, FP4 13125 TFLOPS; 288 GB HBM3e at 8 TB/s, 1400 W maximum")
GB10 = ("NVIDIA DGX Spark product page as reported (dgx-spark.warehack.ing, "
        "ai-infrastructure.net; Hot Chips 2025 GB10 talk): up to 1 PFLOP FP4 with sparsity, "
        "dense = half (500), FP8 and "
        "BF16 halving again (250 / 125, Blackwell's 2:1 steps); 128 GB LPDDR5x at 273 GB/s "
        "shared with the CPU, ~140 W SoC")
RTXP = ("NVIDIA RTX PRO 6000 Blackwell datasheet: 4000 AI TOPS FP4 with sparsity, dense = half "
        "(2000); BF16 / FP8 ~470 / ~940 as in shared/REFERENCE.md")
