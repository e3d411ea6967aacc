"""The engine: hand-computed cases, physical invariants, bad input, round trips."""
import json
import math

import numpy as np
import pytest

import kernel_model as km
from kernel_model import collectives as coll
from kernel_model.simulate import params, evaluate

CAL = km.DEFAULT_CALIBRATION


def sim(**kw):
    return km.simulate(km.Scenario(**kw))


# ---- hand-computed ----------------------------------------------------------------------

def test_llama2_7b_decode_on_one_a100_is_weight_read_plus_launches():
    """Batch-1 decode streams every weight once: time = bytes / achievable HBM + launches."""
    spec = km.get_model("llama-2-7b")
    h, f, L, V = 4096, 11008, 32, 32000
    layer_weights = 4 * h * h + 3 * h * f                     # q, k, v, o + gate, up, down
    weight_bytes = 2 * (L * layer_weights + V * h)            # + LM head (fp16)
    assert spec.layer_params() == pytest.approx(layer_weights + 2 * h)
    gpu = km.get_gpu("a100-sxm-80gb")
    bw = gpu.hbm_gbps * 1e9 * CAL.hbm_efficiency
    kernels = L * 9 + 1 + 3                                   # 9 per layer, embedding, norm/head/sampling
    expected = weight_bytes / bw + kernels * CAL.launch_overhead_s
    res = sim(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="none", batch=1,
              prompt_tokens=1, output_tokens=2)
    assert res.kernels_per_step == kernels
    assert res.tpot_s == pytest.approx(expected, rel=0.03)
    assert res.breakdown["communication"] == 0.0
    assert res.bottleneck == "MEMORY-BOUND"


def test_prefill_long_prompt_is_compute_bound_near_flops_over_achievable_peak():
    res = sim(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="none", prompt_tokens=4096,
              output_tokens=1)
    spec = km.get_model("llama-2-7b")
    gemm_flops = 2 * 4096 * spec.layers * (spec.layer_params() - 2 * spec.hidden)
    t_gemm = gemm_flops / (312e12 * CAL.flops_efficiency)
    assert res.ttft_s > t_gemm                         # attention and the rest come on top
    assert res.ttft_s < 1.35 * t_gemm
    assert res.ttft_breakdown["compute"] > 0.8 * res.ttft_s


def test_auto_uses_one_or_two_shot_only_for_small_messages():
    """Serving stacks run custom one/two-shot kernels up to the calibrated limit, NCCL above."""
    P = params(km.Scenario(model="llama-2-70b", tp=8))
    L = P["link"]
    assert L["direct_max"] == CAL.direct_allreduce_max_bytes
    small, large = 16e3, 4e6
    direct = lambda S: min(float(coll.allreduce_flat(S, 8.0, L, k, 5e-6)) for k in (3.0, 4.0))
    nccl = lambda S: min(float(coll.allreduce_flat(S, 8.0, L, k, 5e-6)) for k in (1.0, 2.0))
    auto = lambda S: float(coll.allreduce_flat(S, 8.0, L, 0.0, 5e-6))
    assert auto(small) == min(direct(small), nccl(small)) == direct(small)
    assert auto(large) == nccl(large)                    # above the limit: NCCL only
    # without P2P access (PCIe through the host) never one/two-shot, whatever the size
    Q = dict(L, p2p=0.0)
    assert float(coll.allreduce_flat(small, 8.0, Q, 0.0, 5e-6)) == min(
        float(coll.allreduce_flat(small, 8.0, Q, k, 5e-6)) for k in (1.0, 2.0))


def test_auto_algorithm_is_never_slower_than_a_named_one():
    base = dict(model="llama-2-70b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=8)
    auto = sim(**base).tpot_s
    for alg in ("ring", "tree", "oneshot", "twoshot"):
        assert auto <= sim(**base, algorithm=alg).tpot_s + 1e-15


# ---- invariants -------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["llama-2-7b", "llama-2-70b", "mixtral-8x7b"])
def test_tp1_has_no_communication(model):
    res = sim(model=model, gpu="h100-sxm", interconnect="nvlink4", tp=1, batch=4)
    assert res.breakdown["communication"] == 0.0
    assert res.ttft_breakdown["communication"] == 0.0
    assert res.collectives_per_step == 0
    assert (res.timeline["stream"] == "comm").sum() == 0


def test_tp_gt1_has_two_allreduces_per_layer():
    res = sim(model="llama-2-13b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=4)
    assert res.breakdown["communication"] > 0
    assert res.collectives_per_step == 2 * 40 + 1        # + the logits gather
    tl = res.timeline
    dec = tl[(tl.phase == "decode") & (tl.name == "allreduce_attn")]
    assert len(dec) == 40


def test_breakdowns_add_up_to_the_step():
    for kw in (dict(tp=8, model="llama-2-70b"), dict(pp=4, micro_batches=2, batch=8),
               dict(tp=2, pp=2, batch=16, micro_batches=4, overlap=0.5)):
        res = sim(gpu="a100-sxm-80gb", interconnect="nvlink", **kw)
        assert sum(res.breakdown.values()) == pytest.approx(res.tpot_s, rel=1e-12)
        assert sum(res.ttft_breakdown.values()) == pytest.approx(res.ttft_s, rel=1e-12)
        assert all(v >= 0 for v in res.breakdown.values())


def test_more_bandwidth_or_less_latency_is_never_slower():
    sc = km.Scenario(model="llama-2-70b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=8,
                     batch=8, prompt_tokens=512)
    P = params(sc)
    base = evaluate(P)
    for key, factors in (("bw", [1.5, 2, 10]), ("lat", [0.5, 0.1, 0.0]),
                         ("bw_x", [2.0]), ("lat_x", [0.5])):
        prev_tpot, prev_ttft = float(base["tpot_s"]), float(base["ttft_s"])
        for fct in factors:
            Q = dict(P)
            Q["link"] = dict(P["link"])
            Q["link"][key] = P["link"][key] * fct
            out = evaluate(Q)
            assert float(out["tpot_s"]) <= prev_tpot + 1e-15
            assert float(out["ttft_s"]) <= prev_ttft + 1e-15
            prev_tpot, prev_ttft = float(out["tpot_s"]), float(out["ttft_s"])
    # across presets: a link faster in both bandwidth and latency is never slower
    links = km.INTERCONNECTS
    for a in links.values():
        for b in links.values():
            if a.kind == "network" or b.kind == "network":
                continue
            same_kind = (a.host_staged, a.cross_socket) == (b.host_staged, b.cross_socket)
            if (same_kind and a.bw_gbps >= b.bw_gbps and a.latency_s <= b.latency_s
                    and a.p2p >= b.p2p and a.in_switch >= b.in_switch):
                ra = sim(model="llama-2-13b", gpu="a100-sxm-80gb", interconnect=a.name, tp=4)
                rb = sim(model="llama-2-13b", gpu="a100-sxm-80gb", interconnect=b.name, tp=4)
                assert ra.tpot_s <= rb.tpot_s + 1e-15, (a.name, b.name)


def test_larger_batch_never_shortens_the_step_and_raises_tokens_per_s_until_compute_bound():
    prev = None
    for b in (1, 2, 4, 8, 16, 32, 64, 128, 256):
        res = sim(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="none", batch=b,
                  prompt_tokens=128, output_tokens=128)
        if prev is not None:
            assert res.tpot_s >= prev.tpot_s
            if prev.bottleneck != "COMPUTE-BOUND":
                assert res.output_tokens_per_s > prev.output_tokens_per_s
        prev = res


def test_longer_context_never_speeds_decode():
    prev = 0.0
    for ctx in (16, 256, 2048, 8192, 32768):
        res = sim(model="llama-3-8b", gpu="h100-sxm", interconnect="nvlink4", tp=2, batch=4,
                  prompt_tokens=ctx, output_tokens=64)
        assert res.tpot_s >= prev
        prev = res.tpot_s


@pytest.mark.parametrize("gpu", ["a100-sxm-80gb", "h100-sxm", "rtx-4090"])
def test_fewer_weight_bits_never_slower(gpu):
    t = {bits: sim(model="llama-2-13b", gpu=gpu, interconnect="none" if gpu != "rtx-4090" else "pcie4_bad",
                   tp=1 if gpu != "rtx-4090" else 2, weight_bits=bits, batch=4).tpot_s
         for bits in (16, 8, 4)}
    assert t[4] <= t[8] <= t[16]
    assert t[4] < t[16]


def test_overlap_hides_only_behind_concurrent_math():
    # batch 64 over host-staged PCIe: 1 MiB all-reduces at 3 GB/s, far longer than the math
    base = dict(model="llama-2-70b", gpu="a100-sxm-80gb", interconnect="pcie4_bad", tp=8, batch=64)
    r0 = sim(**base, overlap=0.0)
    r1 = sim(**base, overlap=1.0)
    assert r1.tpot_s < r0.tpot_s
    hidden = r0.breakdown["communication"] - r1.breakdown["communication"]
    gemm_time = r0.breakdown["compute"] + r0.breakdown["hbm"]
    assert 0 < hidden <= gemm_time
    # over PCIe the comm is far larger than the math: most of it stays exposed
    assert r1.breakdown["communication"] > 0.5 * r0.breakdown["communication"]


def test_pipeline_is_a_bubble_for_one_request_and_a_speedup_with_micro_batches():
    one = sim(model="llama-2-13b", gpu="a100-sxm-80gb", interconnect="nvlink", batch=8)
    pp4 = sim(model="llama-2-13b", gpu="a100-sxm-80gb", interconnect="nvlink", batch=8, pp=4)
    assert pp4.tpot_s >= one.tpot_s                      # never a latency win
    assert pp4.breakdown["pipeline_bubble"] == pytest.approx(0.75 * (pp4.tpot_s - pp4.breakdown["communication"]), rel=0.05)
    mb = sim(model="llama-2-13b", gpu="a100-sxm-80gb", interconnect="nvlink", batch=8, pp=4,
             micro_batches=4)
    assert mb.breakdown["pipeline_bubble"] < pp4.breakdown["pipeline_bubble"]
    assert any("bubble" in w for w in pp4.warnings)
    # the prefill staircase: micro-batch j reaches stage s after it left stage s-1
    tl = mb.timeline
    pre = tl[tl.phase == "prefill"]
    for j in range(4):
        starts = [pre[(pre.stage == s) & (pre.micro_batch == j) & (pre.stream == "compute")].start_s.min()
                  for s in range(4)]
        ends = [pre[(pre.stage == s) & (pre.micro_batch == j)].end_s.max() for s in range(4)]
        assert all(starts[s] >= ends[s - 1] for s in range(1, 4))
    assert pre.end_s.max() == pytest.approx(mb.ttft_s - km.DEFAULT_CALIBRATION.step_overhead_s)
    # a decode step is one period of the full pipeline: it spans the step time, and every
    # stage is busy with all 4 micro-batches inside it
    dec = tl[tl.phase == "decode"]
    assert dec.start_s.min() == 0.0
    assert dec.end_s.max() == pytest.approx(mb.tpot_s - km.DEFAULT_CALIBRATION.step_overhead_s)
    for s in range(4):
        assert set(dec[dec.stage == s].micro_batch) == {0, 1, 2, 3}
        busy = dec[(dec.stage == s) & (dec.stream == "compute")].duration_s.sum()
        assert busy <= mb.tpot_s * (1 + 1e-9)


def test_weights_split_over_tp_and_pp():
    r1 = sim(model="llama-2-70b", gpu="a100-sxm-80gb", tp=1)
    r8 = sim(model="llama-2-70b", gpu="a100-sxm-80gb", tp=8)
    r24 = sim(model="llama-2-70b", gpu="a100-sxm-80gb", tp=2, pp=4)
    assert r8.memory["weights"] == pytest.approx(r1.memory["weights"] / 8, rel=0.02)
    assert r24.memory["weights"] == pytest.approx(r1.memory["weights"] / 8, rel=0.05)
    assert r1.memory["weights"] == pytest.approx(2 * km.get_model("llama-2-70b").total_params, rel=0.01)


def test_plan_that_does_not_fit_still_simulates_and_says_so():
    res = sim(model="llama-2-70b", gpu="rtx-4090", interconnect="pcie4_bad", tp=1)
    assert res.fits is False
    assert res.memory["total"] > res.memory["capacity"]
    assert any("does not fit" in w and "GB" in w for w in res.warnings)
    assert res.tpot_s > 0
    assert sim(model="llama-2-70b", gpu="rtx-4090", interconnect="pcie4_bad", tp=8).fits


def test_kv_cache_memory_is_hand_computed():
    res = sim(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8, batch=16,
              prompt_tokens=1000, output_tokens=1000, kv_bits=8)
    # 80 layers x 2 (K, V) x 8 kv heads x 128 dims, 1 byte, 2000 tokens, 16 sequences, 1/8 per GPU
    expected = 80 * 2 * 8 * 128 * 1 * 2000 * 16 / 8
    assert res.memory["kv_cache"] == pytest.approx(expected)


def test_moe_reads_only_the_experts_the_batch_picks():
    r1 = sim(model="mixtral-8x7b", gpu="h100-sxm", interconnect="nvlink4", tp=2, batch=1)
    r64 = sim(model="mixtral-8x7b", gpu="h100-sxm", interconnect="nvlink4", tp=2, batch=64)
    assert r1.step_bytes["weights_read"] < 0.45 * r64.step_bytes["weights_read"]
    from kernel_model.kernels import expected_distinct_experts
    assert expected_distinct_experts(8, 2, 1) == pytest.approx(2.0)
    assert expected_distinct_experts(8, 2, 64) == pytest.approx(8.0, rel=1e-3)
    # data-parallel attention (tp 1 over 2 GPUs): tokens travel to their experts' GPU
    ep = sim(model="mixtral-8x7b", gpu="h100-sxm", interconnect="nvlink4", tp=1, ep=2, batch=8)
    assert (ep.timeline.name == "dispatch_a2a").any()
    assert ep.breakdown["communication"] > 0
    # tensor-parallel attention holds every token on both GPUs: EP adds no all-to-all, so its
    # communication is TP 2's own, exactly
    tpep = sim(model="mixtral-8x7b", gpu="h100-sxm", interconnect="nvlink4", tp=2, ep=2, batch=8)
    tp2 = sim(model="mixtral-8x7b", gpu="h100-sxm", interconnect="nvlink4", tp=2, batch=8)
    assert not (tpep.timeline.name == "dispatch_a2a").any()
    assert tpep.breakdown["communication"] == tp2.breakdown["communication"]


def test_multi_node_tp_uses_the_inter_node_link():
    r8 = sim(model="llama-2-70b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=8)
    r16 = sim(model="llama-2-70b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=16, batch=1)
    assert any("nodes" in w and "ib_hdr" in w for w in r16.warnings)
    per8 = r8.breakdown["communication"] / r8.collectives_per_step
    per16 = r16.breakdown["communication"] / r16.collectives_per_step
    assert per16 > per8


# ---- the motivating question ------------------------------------------------------------

@pytest.mark.parametrize("batch", [1, 32])
def test_four_pcie_4090s_vs_one_96gb_gpu(batch):
    """llama-2-13b: 4x RTX 4090 over pcie4_bad (no P2P: NCCL stages through host memory) at
    TP=4 against one RTX PRO 6000 at TP=1, on the measured collective physics."""
    quad = sim(model="llama-2-13b", gpu="rtx-4090", interconnect="pcie4_bad", tp=4, batch=batch)
    one = sim(model="llama-2-13b", gpu="rtx-pro-6000", interconnect="none", tp=1, batch=batch)
    p2p = sim(model="llama-2-13b", gpu="rtx-4090", interconnect="pcie4_good", tp=4, batch=batch)
    assert quad.fits and one.fits
    # four cards have 4 x 1008 GB/s of HBM against 1792: the weight read favours them
    assert quad.breakdown["hbm"] < 0.5 * one.breakdown["hbm"]
    assert quad.collectives_per_step == 81
    per = quad.breakdown["communication"] / 81
    if batch == 1:
        # a 10 KiB all-reduce over 4 host-staged GPUs sits on the measured latency floor
        # (19-33 us for 4 PCIe GPUs): 81 of them cost ~2.7 ms, less than the HBM saving
        assert 19e-6 <= per <= 40e-6
        assert quad.breakdown["communication"] < one.breakdown["hbm"] - quad.breakdown["hbm"]
        assert quad.tpot_s < one.tpot_s
        assert 1.2 < one.tpot_s / quad.tpot_s < 1.6
    else:
        # 320 KiB per all-reduce at the host-staged ~3 GB/s: bandwidth-bound, and it loses
        assert per > 150e-6
        assert quad.bottleneck == "INTERCONNECT-BOUND"
        assert "bandwidth-bound at 3 GB/s" in quad.insight
        assert one.tpot_s < quad.tpot_s
        assert 1.1 < quad.tpot_s / one.tpot_s < 1.5
    # with peer-to-peer access the quad wins at both batches, communication more than halved
    assert p2p.breakdown["communication"] < 0.5 * quad.breakdown["communication"]
    assert p2p.tpot_s < one.tpot_s


# ---- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("kw, words", [
    (dict(model="llama-2-7", ), ["model", "llama-2-7b"]),
    (dict(gpu="h100"), None),                              # an alias: valid
    (dict(gpu="h10-sxm"), ["gpu", "h100-sxm"]),
    (dict(interconnect="nvlnk4"), ["interconnect", "nvlink4"]),
    (dict(model="llama-2-13b", tp=3), ["tp=3", "40", "allowed tp"]),
    (dict(model="llama-2-7b", pp=33), ["pp=33", "32"]),
    (dict(batch=0), ["batch=0", ">= 1"]),
    (dict(prompt_tokens=-5), ["prompt_tokens=-5"]),
    (dict(output_tokens=0), ["output_tokens=0"]),
    (dict(weight_bits=12), ["weight_bits=12", "4, 8, 16"]),
    (dict(kv_bits=2), ["kv_bits=2"]),
    (dict(overlap=1.5), ["overlap=1.5", "[0, 1]"]),
    (dict(ep=2), ["ep=2", "experts"]),
    (dict(algorithm="rng"), ["algorithm", "ring"]),
    (dict(tp=2, interconnect="none"), ["interconnect='none'", "2"]),
    (dict(efficiency={"hbm_eff": 0.5}), ["hbm_eff", "hbm_efficiency"]),
    (dict(efficiency={"hbm_efficiency": 1.5}), ["hbm_efficiency", "(0, 1]"]),
])
def test_bad_input_names_field_value_and_allowed(kw, words):
    if words is None:
        km.Scenario(**kw)
        return
    with pytest.raises(ValueError) as e:
        km.Scenario(**kw)
    for w in words:
        assert w in str(e.value)


def test_old_tool_model_aliases():
    assert km.Scenario(model="llama-70b").model_spec().name == "llama-2-70b"
    assert km.get_model("llama-7b").name == "llama-2-7b"


# ---- presets ------------------------------------------------------------------------------

def test_interconnect_presets_keep_every_old_name():
    old = ("pcie4_good", "pcie4_bad", "pcie5_good", "pcie5_bad", "nvlink", "nvlink4", "nvlink5",
           "infinity_fabric", "ib_hdr", "ib_ndr")
    assert set(old) <= set(km.list_interconnects())
    for name in km.list_interconnects():
        link = km.get_interconnect(name)
        assert link.bw_gbps > 0 and link.latency_s > 0 and link.source and link.stands_for
    assert km.get_interconnect("nvlink3") is km.get_interconnect("nvlink")
    assert km.get_interconnect("mi300") is km.get_interconnect("infinity_fabric")
    assert km.get_interconnect("pcie5_switch") is km.get_interconnect("pcie5_good")
    # what the measured systems show: no P2P through the host, a socket crossed
    assert km.get_interconnect("pcie4_bad").host_staged and not km.get_interconnect("pcie4_bad").p2p
    assert km.get_interconnect("pcie5_bad").cross_socket


def test_presets_cover_the_issue_list():
    for m in ("llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3-8b", "llama-3-70b",
              "llama-3.1-8b", "llama-3.1-70b", "llama-3.3-70b", "codellama-34b", "mixtral-8x7b",
              "mixtral-8x22b", "qwen2.5-7b", "qwen2.5-72b", "opt-13b", "opt-30b", "opt-66b",
              "gpt-6.7b", "gpt-20b", "gpt-22b", "gpt-175b", "gpt-310b", "megatron-530b", "gpt-1t"):
        assert m in km.list_models()
        assert km.get_model(m).source
    for g in ("a100-sxm-40gb", "a100-sxm-80gb", "a100-pcie-80gb", "h100-sxm", "h100-pcie",
              "h200-sxm", "b200", "mi300x", "l40s", "a10g", "rtx-4090", "rtx-3090", "rtx-pro-6000"):
        assert g in km.list_gpus()
    # published parameter counts (billions)
    for m, n in (("llama-2-7b", 6.74), ("llama-2-70b", 68.98), ("llama-3-8b", 8.03),
                 ("mixtral-8x7b", 46.7), ("gpt-175b", 174.6), ("qwen2.5-72b", 72.7)):
        assert km.get_model(m).total_params / 1e9 == pytest.approx(n, rel=0.02), m
    assert km.get_model("mixtral-8x7b").active_params / 1e9 == pytest.approx(12.9, rel=0.03)


# ---- API ----------------------------------------------------------------------------------

def test_scenario_round_trips_exactly_and_result_is_json_ready():
    sc = km.Scenario(model="mixtral-8x7b", gpu="h100-sxm", interconnect="nvlink4", tp=4, ep=2,
                     batch=8, overlap=0.25, efficiency={"hbm_efficiency": 0.8})
    d = sc.to_dict()
    assert km.Scenario.from_dict(d) == sc
    assert km.Scenario.from_dict(json.loads(json.dumps(d))) == sc
    res = km.simulate(sc)
    back = json.loads(json.dumps(res.to_dict()))
    assert back["tpot_s"] == res.tpot_s
    assert set(back["breakdown"]) == {"compute", "hbm", "communication", "launch_overhead", "pipeline_bubble"}
    assert back["bottleneck"] in ("COMPUTE-BOUND", "MEMORY-BOUND", "INTERCONNECT-BOUND", "BALANCED")
    with pytest.raises(ValueError, match="tpp"):
        km.Scenario.from_dict({**d, "tpp": 2})


def test_result_fields_and_timeline_columns():
    res = sim(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8)
    assert res.e2e_s == pytest.approx(res.ttft_s + 199 * res.tpot_s)
    assert res.output_tokens_per_s == pytest.approx(1 / res.tpot_s)
    tl = res.timeline
    for col in ("stage", "gpu", "stream", "name", "kind", "start_s", "end_s"):
        assert col in tl.columns
    assert set(tl.phase) == {"prefill", "decode"}
    assert set(tl.stream) == {"compute", "comm"}
    dec = tl[tl.phase == "decode"]
    # the kernels of one step tile the step: last end = step time (no host overhead here)
    assert dec.end_s.max() == pytest.approx(res.tpot_s - km.DEFAULT_CALIBRATION.step_overhead_s, rel=1e-9)
    assert (dec.end_s >= dec.start_s).all()
    assert res.insight and str(round(res.tpot_s * 1e3, 2)) in res.insight


def test_importing_the_engine_never_imports_front_end_packages(python_ok):
    code = ("import sys, kernel_model as km; km.simulate(km.Scenario()).timeline; "
            "bad=[m for m in ('ipywidgets','bqplot','jupyterlab') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    python_ok(code)


@pytest.mark.parametrize("name, total_b, active_b", [
    ("llama-3.1-405b", 405.8, 405.8), ("llama-3.2-1b", 1.24, 1.24), ("llama-3.2-3b", 3.21, 3.21),
    ("mistral-7b", 7.24, 7.24), ("qwen2.5-0.5b", 0.49, 0.49), ("qwen2.5-14b", 14.7, 14.7),
    ("phi-3-mini", 3.82, 3.82), ("qwen1.5-moe-a2.7b", 14.3, 2.7), ("deepseek-v3", 671.0, 37.5),
    ("qwen2-7b", 7.6, 7.6), ("qwen2-72b", 72.7, 72.7), ("qwen3-8b", 8.2, 8.2),
    ("qwen3-32b", 32.8, 32.8), ("opt-1.3b", 1.3, 1.3), ("opt-6.7b", 6.7, 6.7),
    ("opt-175b", 175.0, 175.0), ("qwen2-57b-a14b", 57.4, 14.2), ("qwen3-30b-a3b", 30.5, 3.3),
    ("qwen3-235b-a22b", 235.0, 22.0), ("deepseek-v2", 236.0, 21.0),
    ("deepseek-v2-lite", 15.7, None),     # its card's 2.4B active leaves out part of what we count
    ("falcon-180b", 180.0, 180.0),        # model card: "a 180B parameters causal decoder-only model"
    ("gpt-j-6b", 6.053, 6.053),           # model card: 6,053,381,344 parameters
])
def test_more_presets_match_published_parameter_counts(name, total_b, active_b):
    spec = km.get_model(name)
    assert spec.total_params / 1e9 == pytest.approx(total_b, rel=0.02)
    if active_b is not None:
        assert spec.active_params / 1e9 == pytest.approx(active_b, rel=0.03)


def test_deepseek_preset_matches_its_config_json():
    from pathlib import Path
    imported = km.model_from_hf_config(Path(__file__).parent / "fixtures" / "hf" / "deepseek-v3" / "config.json")
    assert km.get_model("deepseek-r1").shape() == imported.shape()
    assert km.get_model("deepseek-v3").attention == "mla"


def test_the_tensorrt_llm_deepseek_check_table_reads_and_ep_costs_what_tp_costs():
    """benchmarks/data/trtllm-deepseek-r1-batch1.csv (TensorRT-LLM #5929): every row is
    simulated, and at TP 8 the EP 4 / EP 8 predictions equal EP none's, as measured on B200
    (6.6-6.8 ms whichever EP)."""
    from pathlib import Path
    from kernel_model import validate as V
    path = Path(__file__).parent.parent / "benchmarks" / "data" / "trtllm-deepseek-r1-batch1.csv"
    df = V.validate(str(path))
    assert len(df) == 24 and (df.status == "ok").all()
    itl = df[(df.metric == "tpot_ms") & (df.gpu == "b200")]
    for isl, g in itl.groupby("prompt_tokens"):
        assert g.predicted.nunique() == 1, g[["ep", "predicted"]]
        assert g.measured.max() / g.measured.min() < 1.05
