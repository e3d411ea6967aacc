"""Precision formats (kernel_model.formats), the new GPU / model presets, weight_bits mapping."""
import pytest

import kernel_model as km
from kernel_model import formats as F


# ---- bytes per weight, by hand ----------------------------------------------------------
@pytest.mark.parametrize("name,bytes_", [
    ("fp16", 2.0), ("bf16", 2.0), ("fp8", 1.0), ("int8", 1.0),
    ("int4-awq", (4 + (16 + 4) / 128) / 8),     # 4 bits + FP16 scale and 4-bit zero per 128
    ("gptq", (4 + (16 + 4) / 128) / 8),
    ("nvfp4", (4 + 8 / 16) / 8),                 # one FP8 E4M3 scale per 16 values: 0.5625
    ("mxfp4", (4 + 8 / 32) / 8),                 # one E8M0 scale per 32 values: 0.53125
])
def test_bytes_per_weight_by_hand(name, bytes_):
    assert F.get_format(name).bytes_per_weight == bytes_
    assert F.FORMATS["nvfp4"].bytes_per_weight == 0.5625
    assert F.FORMATS["mxfp4"].bytes_per_weight == 0.53125


def test_weights_in_memory_follow_the_format_bytes():
    kw = dict(model="llama-2-70b", gpu="b200", interconnect="none")
    w16 = km.simulate(**kw).memory["weights"]
    w4 = km.simulate(**kw, weight_format="nvfp4").memory["weights"]
    spec = km.get_model("llama-2-70b")
    layer_w = spec.layers * (spec.layer_params() - 2 * spec.hidden)   # norms stay 16-bit
    assert w16 - w4 == pytest.approx(layer_w * (2.0 - 0.5625), rel=1e-3)


# ---- math peaks -------------------------------------------------------------------------
def test_nvfp4_uses_the_fp4_peak_on_blackwell_and_16_bit_math_elsewhere():
    from kernel_model.simulate import params
    b200 = params(km.Scenario(gpu="b200", interconnect="none", weight_format="nvfp4"))
    # the FP4 peak as large GEMMs sustain it on SM100: 0.67 of 9000 (GPU.fp4_gemm_ratio)
    assert b200["F"] == pytest.approx(6030e12, rel=1e-12) and b200["wb"] == 0.5625
    gb = params(km.Scenario(gpu="gb200", interconnect="none", weight_format="mxfp4"))
    assert gb["F"] == pytest.approx(6700e12, rel=1e-12)
    rtx = params(km.Scenario(gpu="rtx-pro-6000", interconnect="none", weight_format="nvfp4"))
    assert rtx["F"] == 2000e12                               # SM120: the whole FP4 peak
    assert params(km.Scenario(gpu="b200", interconnect="none", weight_format="fp8"))["F"] == 4500e12
    assert params(km.Scenario(gpu="b200", interconnect="none", weight_format="int4-awq"))["F"] == 2250e12
    h100 = params(km.Scenario(gpu="h100-sxm", interconnect="none", weight_format="nvfp4"))
    assert h100["F"] == 989e12 and h100["wb"] == 0.5625      # weight-only on Hopper


def test_fp4_prefill_is_faster_than_fp8_on_blackwell_only():
    kw = dict(model="llama-3.1-8b", interconnect="none", prompt_tokens=4096, batch=8)
    b4 = km.simulate(gpu="b200", weight_format="nvfp4", **kw).ttft_s
    b8 = km.simulate(gpu="b200", weight_format="fp8", **kw).ttft_s
    # faster, but by no more than the GEMMs' sustained peaks, 0.67 x 9000 against 4500:
    # attention and the elementwise kernels run as they did
    assert 4500 / (0.67 * 9000) < b4 / b8 < 0.85
    h4 = km.simulate(gpu="h100-sxm", weight_format="nvfp4", **kw)
    h8 = km.simulate(gpu="h100-sxm", weight_format="fp8", **kw)
    assert h4.ttft_s > h8.ttft_s                             # 16-bit math vs FP8 math
    assert any("no FP4 tensor cores" in w and "weight-only" in w for w in h4.warnings)


def test_every_gpu_names_a_source_for_its_peaks():
    from kernel_model.hardware import _BUILTIN_GPUS
    for g in (km.get_gpu(n) for n in _BUILTIN_GPUS):     # not GPUs other tests registered
        assert g.peak_source, g.name
        if g.name == "b300":     # Blackwell Ultra: 1.5x B200's dense FP4 at B200's FP8
            b200 = km.get_gpu("b200")
            assert (g.fp8_tflops, g.fp4_tflops) == (b200.fp8_tflops, pytest.approx(
                1.5 * b200.fp4_tflops, rel=0.03))
        elif g.family == "blackwell":
            assert g.fp4_tflops and g.fp4_tflops == pytest.approx(2 * g.fp8_tflops, rel=0.07)
        else:
            assert g.fp4_tflops is None, g.name


def test_new_gpu_presets():
    gb = km.get_gpu("gb200")
    assert (gb.bf16_tflops, gb.fp8_tflops, gb.fp4_tflops, gb.hbm_gbps) == (2500, 5000, 10000, 8000)
    assert gb.family == "blackwell" and gb.native_link == "nvlink5"
    mi = km.get_gpu("mi325x")
    assert (mi.memory_gb, mi.hbm_gbps, mi.fp8_tflops, mi.fp4_tflops) == (256, 6000, 2615, None)
    assert mi.family == "cdna3"


# ---- weight_bits <-> format ----------------------------------------------------------------
@pytest.mark.parametrize("gpu,bits,fmt", [
    ("a100-sxm-80gb", 16, "fp16"), ("a100-sxm-80gb", 8, "int8"), ("h100-sxm", 8, "fp8"),
    ("l40s", 8, "fp8"), ("b200", 4, "int4-awq"), ("mi300x", 8, "fp8"),
])
def test_weight_bits_maps_to_the_closest_format(gpu, bits, fmt):
    sc = km.Scenario(gpu=gpu, interconnect="none", weight_bits=bits)
    assert sc.weight_format == "auto" and sc.weight_format_spec().name == fmt


def test_a_format_sets_weight_bits_and_replace_keeps_them_consistent():
    sc = km.Scenario(gpu="b200", interconnect="none", weight_format="nvfp4")
    assert sc.weight_bits == 4
    assert sc.replace(weight_format="fp8").weight_bits == 8
    back = sc.replace(weight_bits=16)
    assert back.weight_format == "auto" and back.weight_format_spec().name == "fp16"
    assert km.Scenario(weight_format="awq").weight_format == "int4-awq"     # alias
    with pytest.raises(ValueError, match=r"weight_bits=8 disagrees with weight_format='nvfp4'"):
        km.Scenario(weight_format="nvfp4", weight_bits=8)


def test_unknown_format_names_the_field_value_closest_and_valid():
    with pytest.raises(ValueError) as e:
        km.Scenario(weight_format="nvfp5")
    msg = str(e.value)
    assert "weight_format='nvfp5'" in msg and "closest: nvfp4" in msg and "mxfp4" in msg
    with pytest.raises(ValueError, match="weight_format=4 is not allowed"):
        km.Scenario(weight_format=4)


def test_sweep_matches_simulate_on_formats():
    df = km.sweep({"gpu": ["b200"], "interconnect": ["none"], "weight_format": ["nvfp4", "auto"],
                   "weight_bits": [16, 4], "batch": [1, 64]}, invalid="drop")
    assert len(df)
    for _, r in df.iterrows():
        res = km.simulate(gpu="b200", interconnect="none", weight_format=r["weight_format"],
                          weight_bits=4 if r["weight_format"] == "nvfp4" else int(r["weight_bits"]),
                          batch=int(r["batch"]))
        assert r["tpot_s"] == pytest.approx(res.tpot_s, rel=1e-9)


# ---- measurement notes ---------------------------------------------------------------------
@pytest.mark.parametrize("notes,bits,gpu,fmt", [
    ("NVFP4 weights; weight format: NVFP4; orig: ...", 4, "b200", "nvfp4"),
    ("weight format: FP8 (amd FP8-KV checkpoint: FP8 weights + FP8 KV cache)", 8, "mi300x", "fp8"),
    ("gpt-oss; MXFP4 experts", 4, "h100-sxm", "mxfp4"),
    ("AWQ 4-bit checkpoint", 4, "a100-sxm-80gb", "int4-awq"),
    ("TheBloke GPTQ model", 4, "rtx-4090", "gptq"),
    ("static batch", 8, "a100-sxm-80gb", "int8"),      # no name: closest to weight_bits
    ("static batch", 8, "h100-sxm", "fp8"),
])
def test_format_from_notes(notes, bits, gpu, fmt):
    assert F.format_from_notes(notes, bits, km.get_gpu(gpu))[0] == fmt


def test_notes_that_contradict_weight_bits_raise():
    with pytest.raises(ValueError, match="weight_bits=8 disagrees with the notes.*nvfp4"):
        F.format_from_notes("weight format: NVFP4", 8, km.get_gpu("b200"))


def test_kv_bits_from_notes():
    assert F.kv_bits_from_notes("FP8 (weights+fp8 kv); static batch")[0] == 8
    assert F.kv_bits_from_notes("FP8 weights + FP8 KV cache")[0] == 8
    assert F.kv_bits_from_notes("FP8; 'Low Latency' table")[0] == 16


# ---- model presets -------------------------------------------------------------------------
def test_gpt_oss_120b_matches_its_published_parameter_count():
    """OpenAI gpt-oss model card: 116.83 B total, 5.13 B active per token (the embedding
    lookup not counted, the unembedding counted)."""
    m = km.get_model("gpt-oss-120b")
    assert m.total_params / 1e9 == pytest.approx(116.83, rel=0.005)
    assert (m.active_params - m.vocab * m.hidden) / 1e9 == pytest.approx(5.13, rel=0.01)
    assert (m.experts, m.top_k, m.sliding_window, m.sliding_layers) == (128, 4, 128, 18)
    # sliding layers hold no KV: half the KV elements of a full-attention model of that shape
    s = m.shape()
    assert s["kv_elems"] == pytest.approx(0.5 * 2 * 8 * 64)


def test_llama4_maverick_matches_its_published_parameter_count():
    """Meta: Llama 4 Maverick, 17 B active of 400 B total (text decoder)."""
    m = km.get_model("llama-4-maverick")
    assert m.name == "llama-4-maverick-17b-128e"
    assert m.total_params / 1e9 == pytest.approx(400, rel=0.01)
    assert m.active_params / 1e9 == pytest.approx(17, rel=0.02)
    assert m.dense_layers == 24 and m.shared_experts == 1 and m.top_k == 1


def test_new_moe_presets_simulate_with_expert_parallelism():
    r = km.simulate(model="gpt-oss-120b", gpu="b200", interconnect="nvlink5", tp=1, ep=8,
                    weight_format="mxfp4", batch=32)
    assert r.tpot_s > 0 and r.fits
    r = km.simulate(model="llama-4-maverick-17b-128e", gpu="h200-sxm", interconnect="nvlink4",
                    tp=8, weight_format="fp8", batch=8)
    assert r.fits and r.tpot_s > 0
