"""FP4 GEMMs on B200-class Blackwell (SM100) sustain a smaller share of their datasheet peak
than 16-bit GEMMs do of theirs (``GPU.fp4_gemm_ratio``, from published GEMM benchmarks): the
engine's GEMM efficiency applies to the FP4 peak scaled by that ratio."""
import dataclasses
import statistics

import pytest

import kernel_model as km
from kernel_model import gpu_peaks, hardware
from kernel_model.simulate import params

# vLLM PR #20646 (bench_nvfp4_gemm.py on a B200, N=6144 K=4096; its table before the tuned
# configs): TFLOP/s at M = 4096, 8192, 16384 of the NVFP4 GEMM without activation
# quantisation, and of BF16 on the same GPU
NVFP4 = (3645.594842, 3778.760919, 3904.329097)
BF16 = (1365.255495, 1420.966950, 1360.143047)


def test_the_ratio_is_the_benchmarks_median_by_hand():
    ratios = [(f4 / 9000) / (f16 / 2250) for f4, f16 in zip(NVFP4, BF16)]
    assert [round(r, 3) for r in ratios] == [0.668, 0.665, 0.718]
    assert gpu_peaks.SM100_FP4 == round(statistics.median(ratios), 2) == 0.67
    # a ratio of shares: the same on GB200, whose peaks are B200's x 10 / 9 alike
    gb = [(f4 / 10000) / (f16 / 2500) for f4, f16 in zip(NVFP4, BF16)]
    assert gb == pytest.approx(ratios, rel=1e-12)


@pytest.mark.parametrize("gpu,peak,ratio", [("b200", 9000, 0.67), ("gb200", 10000, 0.67),
                                            ("b300", 13125, 0.67), ("rtx-pro-6000", 2000, 1.0),
                                            ("rtx-5090", 838, 1.0), ("gb10", 500, 1.0)])
def test_sustained_fp4_peak_per_gpu(gpu, peak, ratio):
    g = km.get_gpu(gpu)
    assert g.fp4_tflops == peak and g.fp4_gemm_ratio == ratio
    assert g.sustained_tflops("fp4") == pytest.approx(peak * ratio, rel=1e-12)
    # the datasheet peaks stay as they are; FP8 and 16-bit are not scaled
    assert g.math_tflops("fp4") == peak
    assert (g.sustained_tflops("fp8"), g.sustained_tflops("16")) == (g.fp8_tflops, g.bf16_tflops)
    if ratio != 1.0:
        assert "#20646" in g.gemm_ratio_source


def test_gpus_without_fp4_have_no_sustained_fp4_peak():
    for name in ("h100-sxm", "a100-sxm-80gb", "mi300x"):
        g = km.get_gpu(name)
        assert g.sustained_tflops("fp4") is None and g.fp4_gemm_ratio == 1.0


def test_compute_bound_prefill_gemms_scale_with_the_ratio():
    """A long prompt on B200: the GEMMs' FP4 peak is 0.67 of the datasheet's; attention
    (16-bit math) keeps its own. Against the same GPU at the whole FP4 peak, the prefill is
    slower, and by less than 1 / 0.67 (only the GEMMs slow down)."""
    kw = dict(model="llama-3.1-8b", interconnect="none", weight_format="nvfp4",
              prompt_tokens=8192, batch=4)
    P = params(km.Scenario(gpu="b200", **kw))
    assert P["F"] == pytest.approx(0.67 * 9000e12, rel=1e-12) and P["F16"] == 2250e12
    hardware.register_gpu(dataclasses.replace(km.get_gpu("b200"), name="b200-whole-fp4",
                                              fp4_gemm_ratio=1.0))
    try:
        assert params(km.Scenario(gpu="b200-whole-fp4", **kw))["F"] == 9000e12
        a = km.simulate(gpu="b200", **kw).ttft_s
        b = km.simulate(gpu="b200-whole-fp4", **kw).ttft_s
        assert b < a < b / 0.67
    finally:
        hardware.GPUS.pop("b200-whole-fp4", None)
