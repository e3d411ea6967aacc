"""kernel_model.energy: joules per token (inference) and per iteration (training)."""
import importlib

import pytest

import kernel_model as km
from kernel_model.energy import (inference_energy, training_energy, energy, energy_params,
                                 register_energy, EnergyParams, MATH_SHARE, sent_bytes,
                                 link_bytes)
from kernel_model.training import simulate_training


def _inf(**kw):
    d = dict(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=2, batch=8,
             prompt_tokens=256, output_tokens=64)
    d.update(kw)
    return km.simulate(**d)


def test_energy_scales_with_layers():
    e16 = inference_energy(_inf(layers=16))
    e32 = inference_energy(_inf(layers=32))
    for c in ("compute", "hbm"):
        # every layer counts: twice the layers, about twice the dynamic energy (the
        # embedding / LM head are the same in both)
        assert 1.8 < e32.components[c] / e16.components[c] <= 2.0
    assert e32.counts["flops"] > 1.8 * e16.counts["flops"]
    assert e32.joules > 1.8 * e16.joules
    t16 = training_energy(simulate_training(model="gpt-22b", tp=8, global_batch=4, layers=24))
    t48 = training_energy(simulate_training(model="gpt-22b", tp=8, global_batch=4, layers=48))
    assert 1.8 < t48.components["compute"] / t16.components["compute"] <= 2.0


def test_components_from_counts_and_power_figures():
    res = simulate_training(model="gpt-175b", gpu="a100-sxm-80gb", tp=8, pp=8, global_batch=64,
                            recompute="selective", sequence_parallel=True)
    e = training_energy(res)
    g = km.get_gpu("a100-sxm-80gb")
    pj = MATH_SHARE * (g.tdp_w - g.idle_w) / (g.bf16_tflops * 1e12)     # J per FLOP
    assert e.params.flop_pj == pytest.approx(pj * 1e12)
    assert e.components["compute"] == pytest.approx(res.totals["flops"] * pj)
    assert e.components["hbm"] == pytest.approx(res.totals["hbm_bytes"] * e.params.hbm_pj_per_byte * 1e-12)
    assert e.components["static"] == pytest.approx(g.idle_w * 64 * res.iteration_s)
    assert e.joules == pytest.approx(sum(e.components.values()))
    assert e.joules_per_token == pytest.approx(e.joules / (2048 * 64))
    # FLOPs actually performed: the model's plus nothing lost or double counted
    assert res.totals["flops"] == pytest.approx(res.hardware_flops, rel=0.02)
    # a busy A100 draws more than idle and (in this model) no more than its TDP
    assert g.idle_w < e.average_power_w <= g.tdp_w and not e.warnings
    assert e.components["network"] > 0            # pipeline sends cross the 8 nodes


def test_decode_energy_counts_every_weight_read():
    res = _inf(tp=1, interconnect="none", batch=1, output_tokens=32)
    e = inference_energy(res)
    steps = res.scenario.output_tokens - 1
    assert e.counts["hbm_bytes"] >= steps * res.step_bytes["weights_read"]
    assert e.counts["hbm_bytes"] <= 1.3 * (steps + 1) * res.memory["weights"]
    assert e.components["link"] == 0.0
    assert e.joules_per_output_token == pytest.approx(e.joules / 32)
    assert e.joules_per_token == pytest.approx(e.joules / (256 + 32))
    assert e.components["static"] == pytest.approx(60 * 1 * res.e2e_s)


def test_fp8_flops_cost_half_on_hopper():
    kw = dict(gpu="h100-sxm", interconnect="nvlink4", batch=64, prompt_tokens=1024)
    e16 = inference_energy(_inf(**kw, weight_bits=16))
    e8 = inference_energy(_inf(**kw, weight_bits=8))
    assert e8.counts["flops"] == pytest.approx(e16.counts["flops"], rel=1e-6)
    assert 0.5 <= e8.components["compute"] / e16.components["compute"] < 0.6


def test_more_gpus_more_static_power():
    a = inference_energy(_inf(tp=1, interconnect="none"))
    b = inference_energy(_inf(tp=4))
    assert b.components["static"] / b.seconds == pytest.approx(4 * a.components["static"] / a.seconds)
    assert b.components["link"] > 0 and a.components["link"] == 0


def test_dispatch_and_overrides():
    res = _inf()
    assert energy(res).kind == "inference"
    t = simulate_training(model="gpt-22b", tp=8, global_batch=4)
    assert energy(t).kind == "training"
    base = energy_params("h200-sxm")
    register_energy("h200-sxm", hbm_pj_per_byte=2 * base.hbm_pj_per_byte)
    try:
        assert energy_params("h200-sxm").hbm_pj_per_byte == 2 * base.hbm_pj_per_byte
    finally:
        importlib.import_module("kernel_model.energy")._OVERRIDES.pop("h200-sxm", None)
    with pytest.raises(ValueError, match="hbm_pj"):
        register_energy("h200-sxm", hbm_pj=3.0)
    hot = EnergyParams(gpu="x", flop_pj=1000.0, hbm_pj_per_byte=31.0, link_pj_per_byte=40.0,
                       network_pj_per_byte=160.0, idle_w=60.0, tdp_w=100.0)
    assert any("exceeds" in w for w in inference_energy(res, hot).warnings)


def test_link_bytes_are_ring_shares_of_each_collective():
    from kernel_model.kernels import LAYER_KERNELS, TAIL_KERNELS, layer_work, head_tail_work
    from kernel_model.simulate import params
    assert sent_bytes(800.0, 8, 2) == pytest.approx(2 * 7 / 8 * 800.0)
    assert sent_bytes(800.0, 4, 1) == pytest.approx(3 / 4 * 800.0)
    assert sent_bytes(800.0, 1, 2) == 0.0
    # 2 attention replicas of TP 2 over 4 GPUs, experts over EP 4: tokens travel to experts
    sc = km.Scenario(model="mixtral-8x7b", gpu="h100-sxm", interconnect="nvlink4", tp=2, ep=4)
    P = params(sc)
    w = layer_work(P, 64.0, 4.0, 256.0, False)
    ar = float(w["allreduce_attn"][2]) + float(w["allreduce_mlp"][2])
    a2a = float(w["dispatch_a2a"][2]) + float(w["combine_a2a"][2])
    assert ar > 0 and a2a > 0
    assert link_bytes(P, w, LAYER_KERNELS) == pytest.approx(ar * 2 * 1 / 2 + a2a * 3 / 4)
    tail = head_tail_work(P, 4.0, 4.0)
    assert link_bytes(P, tail, TAIL_KERNELS) == pytest.approx(float(tail["logits_gather"][2]) * 1 / 2)
    assert link_bytes(P, w, ("attention", "mlp_up")) == 0.0
    # TP 4 attention holds every token on every GPU: EP 2 needs no all-to-all, only the
    # all-reduce TP needs anyway (vLLM: all-to-all kernels only where dp_size > 1)
    P4 = params(km.Scenario(model="mixtral-8x7b", gpu="h100-sxm", interconnect="nvlink4", tp=4, ep=2))
    w4 = layer_work(P4, 64.0, 4.0, 256.0, False)
    assert float(w4["dispatch_a2a"][2]) == float(w4["combine_a2a"][2]) == 0.0
    assert float(w4["allreduce_mlp"][2]) > 0


def test_fp32_training_flops_cost_twice_the_16bit_energy():
    kw = dict(model="gpt-22b", gpu="a100-sxm-80gb", tp=8, global_batch=4, layers=4)
    bf = training_energy(simulate_training(**kw))
    f32 = training_energy(simulate_training(**kw, precision="fp32"))
    # the same FLOPs, each at the 16-bit energy times peak16 / peak_tf32 = 2
    assert f32.counts["flops"] == pytest.approx(bf.counts["flops"], rel=1e-9)
    assert f32.components["compute"] == pytest.approx(2 * bf.components["compute"], rel=1e-9)
