"""kernel_model.training: iteration time, pipeline, memory, MFU, CLI, validation targets."""
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kernel_model as km
from kernel_model.training import simulate_training, cli_main, run_schedule, TIMELINE_COLUMNS

DATA = [Path(km.__file__).parent / "data" / "training_measurements.csv",
        Path(__file__).resolve().parents[2] / "shared" / "data" / "training_measurements.csv"]

MEGATRON_175B = dict(model="gpt-175b", gpu="a100-sxm-80gb", seq_len=2048, global_batch=64,
                     micro_batch=1, dp=1, tp=8, pp=8, recompute="selective",
                     sequence_parallel=True)


def _rows():
    for p in DATA:
        if p.exists():
            return pd.read_csv(p)
    pytest.skip("training_measurements.csv not found")


def _run_row(r, **kw):
    return simulate_training(model=r.model, gpu=r.gpu, seq_len=int(r.seq_len),
                             global_batch=int(r.global_batch), micro_batch=int(r.micro_batch),
                             dp=int(r.dp), tp=int(r.tp), pp=int(r.pp), recompute=r.recompute,
                             sequence_parallel=r.sequence_parallel, **kw)


@pytest.mark.parametrize("flash", [True, False])
def test_megatron_measurements_within_targets(flash):
    df = _rows()
    errs = []
    for _, r in df.iterrows():
        res = _run_row(r, flash_attention=flash)
        errs.append((res.iteration_s - r.value) / r.value * 100)
        print(f"{r.id} {r.model} {r.recompute}: measured {r.value} s, predicted "
              f"{res.iteration_s:.2f} s ({errs[-1]:+.1f} %)")
    errs = np.abs(errs)
    assert errs.mean() <= 15.0, errs
    assert errs.max() <= 25.0, errs


def test_175b_on_64_gpus_simulates_within_50ms():
    simulate_training(**MEGATRON_175B)                       # warm imports
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        res = simulate_training(**MEGATRON_175B)
        times.append(time.perf_counter() - t0)
    assert res.num_gpus == 64 and res.nodes == 8
    assert np.median(times) <= 0.050


def test_breakdowns_add_up_and_mfu_definition():
    res = simulate_training(**MEGATRON_175B)
    assert sum(res.breakdown.values()) == pytest.approx(res.iteration_s, rel=1e-9)
    assert sum(res.phases.values()) == pytest.approx(res.iteration_s, rel=1e-9)
    assert all(v >= 0 for v in res.breakdown.values())
    assert res.mfu == pytest.approx(res.model_flops / (res.iteration_s * 64 * 312e12), rel=1e-9)
    # model FLOPs: the 6 x parameters x tokens rule plus attention (< 10 % at s=2048)
    n = km.get_model("gpt-175b").total_params
    tokens = 64 * 2048
    assert 6 * n * tokens <= res.model_flops <= 1.1 * 6 * n * tokens
    assert res.tokens_per_s == pytest.approx(tokens / res.iteration_s)
    assert 0 < res.mfu < res.peak_flops and res.mfu < 1


def test_backward_is_about_twice_the_forward():
    res = simulate_training(**dict(MEGATRON_175B, pp=1, global_batch=1, layers=8))
    ratio = res.phases["backward"] / res.phases["forward"]
    assert 1.6 < ratio < 2.5


def test_pipeline_bubble_follows_1f1b_formula():
    for m in (8, 64):
        res = simulate_training(**dict(MEGATRON_175B, global_batch=m))
        busy = res.phases["forward"] + res.phases["backward"] + res.phases["recompute"]
        # bubble relative to the critical stage's work: (pp - 1) / m for equal stages
        assert res.phases["pipeline_bubble"] / busy == pytest.approx(7 / m, abs=0.03)
    one = simulate_training(**dict(MEGATRON_175B, pp=1, layers=12))
    assert one.phases["pipeline_bubble"] == 0.0 and one.phases["p2p"] == 0.0


@pytest.mark.parametrize("schedule", ["1f1b", "gpipe"])
def test_timeline_schedule_agrees_with_closed_form(schedule):
    res = simulate_training(**dict(MEGATRON_175B, global_batch=16, schedule=schedule))
    tl = res.timeline
    assert list(tl.columns) == list(TIMELINE_COLUMNS)
    fw = tl[tl.name == "forward"]
    assert len(fw) == 8 * 16 and set(fw.stage) == set(range(8))
    assert set(fw.micro_batch) == set(range(16))
    assert tl.end_s.max() == pytest.approx(res.iteration_s, rel=0.01)
    # a stage runs one compute op at a time
    for _, g in tl[tl.stream == "compute"].groupby("stage"):
        g = g.sort_values("start_s")
        assert (g.start_s.values[1:] >= g.end_s.values[:-1] - 1e-9).all()
    # forward of micro-batch j on stage s starts after it ended on stage s-1
    f = fw.pivot(index="stage", columns="micro_batch", values="start_s").values
    e = fw.pivot(index="stage", columns="micro_batch", values="end_s").values
    assert (f[1:] >= e[:-1]).all()


def test_run_schedule_uniform_stages():
    pp, m = 4, 8
    Fs, Fe, Bs, Be = run_schedule([1.0] * pp, [2.0] * pp, [0.0] * (pp - 1), m, "1f1b")
    assert np.nanmax(Be) == pytest.approx((m + pp - 1) * 3.0)     # (m + p - 1)(t_f + t_b)
    Fs, Fe, Bs, Be = run_schedule([1.0] * pp, [2.0] * pp, [0.0] * (pp - 1), m, "gpipe")
    assert np.nanmax(Be) == pytest.approx((m + pp - 1) * 3.0)


def test_recompute_trades_time_for_memory():
    base = dict(MEGATRON_175B, flash_attention=False)
    none = simulate_training(**dict(base, recompute="none"))
    sel = simulate_training(**dict(base, recompute="selective"))
    full = simulate_training(**dict(base, recompute="full"))
    assert none.iteration_s < sel.iteration_s < full.iteration_s
    assert none.memory["activations"] > sel.memory["activations"] > full.memory["activations"]
    # full recompute repeats the forward pass: its recompute time equals the forward's
    assert full.phases["recompute"] == pytest.approx(full.phases["forward"], rel=0.05)
    assert full.hfu > full.mfu and none.hfu == pytest.approx(none.mfu)
    # FlashAttention already recomputes the scores: selective costs nothing extra
    f_none = simulate_training(**dict(MEGATRON_175B, recompute="none"))
    f_sel = simulate_training(**dict(MEGATRON_175B, recompute="selective"))
    assert f_sel.iteration_s == pytest.approx(f_none.iteration_s)


def test_activation_memory_matches_korthikanti_formulas():
    s, b, h, L, t, a = 2048, 1, 12288, 96, 8, 96
    # first 1F1B stage holds pp micro-batches of L/pp layers: L layers in all
    sel_sp = simulate_training(**dict(MEGATRON_175B, flash_attention=False))
    assert sel_sp.memory["activations"] == pytest.approx(34 * s * b * h * L / t, rel=0.05)
    none_tp = simulate_training(**dict(MEGATRON_175B, recompute="none", sequence_parallel=False,
                                       flash_attention=False))
    expect = s * b * h * L * (10 + 24 / t + 5 * a * s / (h * t))
    assert none_tp.memory["activations"] == pytest.approx(expect, rel=0.05)
    full = simulate_training(**dict(MEGATRON_175B, recompute="full", sequence_parallel=False))
    # layer inputs of all L layers, one layer rebuilt for its backward, and the embedding
    # outputs of the pp micro-batches in flight
    expect = 2 * s * b * h * L + s * b * h * (10 + 24 / t) + 2 * s * b * h * 8
    assert full.memory["activations"] == pytest.approx(expect, rel=0.02)


def test_weights_gradients_optimizer_by_zero_stage():
    spec = km.get_model("gpt-175b")
    kw = dict(MEGATRON_175B, pp=4, dp=4, global_batch=64, layers=None)
    per_layer = spec.layer_params()
    first_stage = (24 * per_layer + spec.vocab * spec.hidden) / 8     # 96/4 layers, tp=8
    mem = {z: simulate_training(**dict(kw, zero_stage=z)).memory for z in range(4)}
    assert mem[0]["weights"] == pytest.approx(2 * first_stage, rel=0.01)
    assert mem[0]["gradients"] == pytest.approx(2 * first_stage, rel=0.01)
    assert mem[0]["optimizer_states"] == pytest.approx(12 * first_stage, rel=0.01)
    assert mem[1]["optimizer_states"] == pytest.approx(mem[0]["optimizer_states"] / 4)
    assert mem[1]["gradients"] == mem[0]["gradients"]
    assert mem[2]["gradients"] == pytest.approx(mem[0]["gradients"] / 4)
    assert mem[2]["weights"] == mem[0]["weights"]
    assert mem[3]["weights"] == pytest.approx(mem[0]["weights"] / 4)
    totals = [mem[z]["total"] for z in range(4)]
    assert totals == sorted(totals, reverse=True)
    g32 = simulate_training(**dict(kw, grad_bits=32)).memory
    assert g32["gradients"] == pytest.approx(2 * mem[0]["gradients"])


def test_does_not_fit_message_names_the_shortfall():
    res = simulate_training(model="gpt-175b", gpu="a100-sxm-80gb", tp=8, pp=1, global_batch=8)
    assert not res.fits
    short = (res.memory["total"] - res.memory["capacity"]) / 1e9
    msg = [w for w in res.warnings if w.startswith("does not fit")]
    assert msg and f"does not fit by {short:.1f} GB" in msg[0]
    ok = simulate_training(**MEGATRON_175B)
    assert ok.fits and not any("does not fit" in w for w in ok.warnings)


def test_gpipe_holds_more_activations_than_1f1b_at_same_time():
    a = simulate_training(**dict(MEGATRON_175B, schedule="1f1b"))
    b = simulate_training(**dict(MEGATRON_175B, schedule="gpipe"))
    assert b.memory["activations"] > 4 * a.memory["activations"]       # m=64 vs pp=8 in flight
    assert b.iteration_s == pytest.approx(a.iteration_s, rel=0.01)


def test_data_parallel_scaling_and_overlap():
    kw = dict(model="gpt-22b", gpu="a100-sxm-80gb", tp=8, pp=1, global_batch=8,
              recompute="selective", sequence_parallel=True)
    one = simulate_training(**kw)
    four = simulate_training(**dict(kw, dp=4, global_batch=32))
    assert four.num_gpus == 32 and four.nodes == 4
    assert four.config["inter_node"] == "ib_hdr"
    assert four.iteration_s >= one.iteration_s
    assert 3.0 < four.tokens_per_s / one.tokens_per_s <= 4.0
    no_ov = simulate_training(**dict(kw, dp=4, global_batch=32, dp_overlap=0.0))
    assert no_ov.iteration_s > four.iteration_s
    assert no_ov.phases["dp_communication"] > 0
    z1 = simulate_training(**dict(kw, dp=4, global_batch=32, zero_stage=1, dp_overlap=0.0))
    assert z1.phases["dp_communication"] > 0 and z1.memory["total"] < no_ov.memory["total"]
    h100 = simulate_training(**dict(kw, gpu="h100-sxm", dp=4, global_batch=32))
    assert h100.config["inter_node"] == "ib_ndr"
    assert h100.iteration_s < four.iteration_s


def test_faster_link_never_slower():
    kw = dict(model="gpt-22b", gpu="h100-sxm", tp=8, global_batch=4, recompute="selective")
    fast = simulate_training(**kw, interconnect="nvlink4")
    slow = simulate_training(**kw, interconnect="pcie5_good")
    assert slow.iteration_s > fast.iteration_s
    assert slow.breakdown["communication"] > fast.breakdown["communication"]


def test_context_parallel_splits_activations():
    kw = dict(model="llama-3-8b", gpu="h100-sxm", seq_len=16384, global_batch=8, tp=4,
              recompute="selective", sequence_parallel=True)
    one = simulate_training(**kw)
    two = simulate_training(**dict(kw, cp=2))
    assert two.num_gpus == 2 * one.num_gpus
    assert two.memory["activations"] < 0.6 * one.memory["activations"]
    assert two.iteration_s < one.iteration_s


def test_moe_expert_parallel_shards_experts():
    kw = dict(model="mixtral-8x7b", gpu="h100-sxm", seq_len=4096, global_batch=16, tp=1,
              dp=8, zero_stage=1)
    e1 = simulate_training(**kw)
    e8 = simulate_training(**dict(kw, ep=8))
    spec = km.get_model("mixtral-8x7b")
    expert_params = spec.layers * spec.experts * 3 * spec.hidden * spec.ffn
    assert e1.memory["weights"] - e8.memory["weights"] == pytest.approx(
        2 * expert_params * (1 - 1 / 8), rel=0.02)
    # the same tokens through the same experts: the model FLOPs do not depend on the plan
    assert e8.model_flops == pytest.approx(e1.model_flops, rel=1e-9)
    # EP adds token all-to-alls but shards the expert gradients out of the DP sync
    layer_comm = {k: r.breakdown["communication"] - r.phases["dp_communication"]
                  for k, r in (("e1", e1), ("e8", e8))}
    assert layer_comm["e1"] == pytest.approx(0.0, abs=1e-9) and layer_comm["e8"] > 0
    assert e8.phases["dp_communication"] < e1.phases["dp_communication"]
    active = spec.active_params
    assert 6 * active * 16 * 4096 < e1.model_flops < 1.3 * 6 * active * 16 * 4096


def test_fp8_training_uses_fp8_peak():
    kw = dict(model="gpt-22b", gpu="h100-sxm", tp=8, global_batch=4, recompute="selective")
    bf = simulate_training(**kw)
    f8 = simulate_training(**kw, precision="fp8")
    assert f8.peak_flops == pytest.approx(2 * bf.peak_flops, rel=0.01)
    assert f8.iteration_s < bf.iteration_s
    with pytest.raises(ValueError, match="fp8"):
        simulate_training(model="gpt-22b", gpu="a100-sxm-80gb", tp=8, global_batch=4,
                          precision="fp8")
    # fp32 trains on TF32 tensor cores at half the 16-bit peak, with 4-byte weights and
    # gradients and no separate master copy (Adam: 8 bytes of moments per parameter)
    f32 = simulate_training(**kw, precision="fp32")
    assert f32.peak_flops == pytest.approx(bf.peak_flops / 2)
    assert f32.iteration_s > bf.iteration_s
    assert f32.memory["weights"] == pytest.approx(2 * bf.memory["weights"])
    assert f32.memory["optimizer_states"] == pytest.approx(8 / 12 * bf.memory["optimizer_states"])


@pytest.mark.parametrize("kw, field", [
    (dict(recompute="ful"), "recompute"),
    (dict(schedule="interleaved"), "schedule"),
    (dict(zero_stage=4), "zero_stage"),
    (dict(global_batch=10, dp=4), "global_batch"),
    (dict(num_gpus=16), "num_gpus"),
    (dict(tp=7), "tp"),
    (dict(micro_batch=0), "micro_batch"),
    (dict(sequence_parallel="maybe"), "sequence_parallel"),
    (dict(model="gpt-176b"), "model"),
    (dict(precision="bf17"), "precision"),
    (dict(optimizer="adamw"), "optimizer"),
    (dict(grad_bits=8), "grad_bits"),
])
def test_bad_input_names_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        simulate_training(**dict(dict(model="gpt-22b", gpu="a100-sxm-80gb", tp=8,
                                      global_batch=8), **kw))


def test_recompute_typo_suggests_closest():
    with pytest.raises(ValueError, match="closest: full"):
        simulate_training(model="gpt-22b", tp=8, global_batch=8, recompute="ful")


def test_cli_text_json_and_errors(capsys):
    argv = ["--mode", "training", "--model", "gpt-175b", "--gpu", "a100-sxm-80gb", "--tp", "8",
            "--pp", "8", "--dp", "1", "--seq-len", "2048", "--global-batch", "64",
            "--micro-batch", "1", "--recompute", "selective", "--sequence-parallel",
            "--zero-stage", "1"]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    assert "iteration" in out and "MFU" in out
    assert cli_main(argv + ["--json", "--energy"]) == 0
    d = json.loads(capsys.readouterr().out)
    ref = simulate_training(**dict(MEGATRON_175B, zero_stage=1))
    assert d["iteration_s"] == pytest.approx(ref.iteration_s)
    assert d["energy"]["joules"] > 0
    for bad in (["--mode", "training", "--tp", "0"], ["--mode", "training", "--recompute", "x"],
                ["--mode", "training", "--tp", "eight"], ["--mode", "training", "--model", "nope"]):
        assert cli_main(bad) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("nexora: error:")
