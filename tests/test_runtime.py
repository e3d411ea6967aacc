"""Serving runtimes (kernel_model.runtime): host time of an eager server, everywhere it shows."""
import pandas as pd
import pytest

import kernel_model as km
from kernel_model import calibrate as C
from kernel_model import validate as V
from kernel_model.cli import main as cli_main

EAGER = km.DEFAULT_CALIBRATION.eager_server_step_s
BASE = dict(model="llama-2-13b", gpu="a100-sxm-40gb", interconnect="nvlink", tp=8,
            prompt_tokens=11, output_tokens=50)


@pytest.mark.parametrize("framework,runtime", [
    ("HF TGI 1.0.3", "tgi-eager"),             # before CUDA graphs became TGI's default (2.0)
    ("text-generation-inference v1.4.5", "tgi-eager"),
    ("TGI 2.0.1", "tgi"),
    ("TGI", "tgi"),                            # no version: today's default
    ("vLLM 0.2.1", "vllm"),                    # eager vLLM costs ~1.5 ms/step: framework spread
    ("vllm 0.4.0 --enforce-eager", "vllm"),
    ("vLLM 0.9.1 (ROCm docker rocm/vllm:rocm6.4.1_vllm_0.9.1_20250715)", "vllm"),
    ("SGLang v0.4.6", "sglang"),
    ("FasterTransformer", "trtllm"),           # TensorRT-LLM's predecessor
    ("TensorRT-LLM v0.5", "trtllm"),
    ("TensorRT-LLM v1.0 (PyTorch backend; trtllm-bench throughput)", "trtllm-pytorch"),
    ("TensorRT-LLM v0.5 (static batching, gptSessionBenchmark)", "trtllm"),
    ("NeMo inference / TensorRT-LLM", "trtllm"),
    ("NIM", "trtllm"),
    ("lmdeploy TurboMind v0.1.", "compiled"),
    ("", "compiled"),
])
def test_runtime_for_framework(framework, runtime):
    got, reason = km.runtime_for_framework(framework)
    assert got == runtime
    assert reason
    assert km.get_runtime(got).name == got


def test_profiles_hold_their_physical_parameters_and_a_source():
    for name in ("compiled", "trtllm", "vllm", "sglang", "tgi", "tgi-eager"):
        p = km.runtime.parameters(name)
        assert p["source"] and 0.0 <= p["fusion"] <= 1.0
        assert p["launch_eager_s"] >= p["launch_graph_s"] > 0
        assert p["launch_s"] == (p["launch_graph_s"] if p["graphs"] else p["launch_eager_s"])
    assert km.get_runtime("eager_server").name == "tgi-eager"     # old names are aliases
    assert km.get_runtime("compiled").name == "compiled"
    tgi = km.runtime.parameters("tgi-eager")
    cal = km.DEFAULT_CALIBRATION
    assert not tgi["graphs"]
    assert tgi["host_step_s"] == pytest.approx(cal.step_overhead_s + cal.eager_server_step_s)


def test_fusion_removes_the_launch_gaps_of_fused_elementwise_kernels_by_hand():
    """trtllm fuses 1 of the 4 elementwise kernels per layer (rope into attention): its step is
    L x 4 x 0.25 launch gaps shorter than the generic compiled profile's, and its C++ executor
    adds its host time for the one sequence (CPP_EXECUTOR_SEQ_S); nothing else moves."""
    kw = dict(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="none", batch=1)
    c, t = km.simulate(**kw), km.simulate(**kw, runtime="trtllm")
    gap = km.DEFAULT_CALIBRATION.launch_overhead_s
    assert km.get_runtime("trtllm").fusion == 0.25
    seq = km.runtime.CPP_EXECUTOR_SEQ_S
    assert c.tpot_s - t.tpot_s == pytest.approx(32 * 4 * 0.25 * gap - seq, rel=1e-9)
    assert t.breakdown["hbm"] == c.breakdown["hbm"]


def test_a_runtime_override_applies_to_that_runtime_only():
    kw = dict(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="none", batch=1)
    eff = {"runtimes": {"vllm": {"launch_overhead_s": 2e-6}}, "launch_overhead_s": 10e-6}
    v = km.simulate(**kw, runtime="vllm", efficiency=eff)
    c = km.simulate(**kw, runtime="compiled", efficiency=eff)
    kernels = c.kernels_per_step
    # vLLM also pays its host time per sequence (batch 1: one sequence) in the same category
    seq = km.get_runtime("vllm").host_per_seq_s
    assert c.breakdown["launch_overhead"] - v.breakdown["launch_overhead"] == pytest.approx(
        kernels * 8e-6 - 1 * seq, rel=1e-9)
    with pytest.raises(ValueError, match="closest: vllm"):
        km.Scenario(efficiency={"runtimes": {"vlm": {"launch_overhead_s": 1e-6}}})


def test_eager_server_adds_the_host_time_to_every_forward_pass_by_hand():
    c = km.simulate(**BASE)
    e = km.simulate(**BASE, runtime="eager_server")
    assert e.tpot_s - c.tpot_s == pytest.approx(EAGER, rel=1e-12)
    assert e.ttft_s - c.ttft_s == pytest.approx(EAGER, rel=1e-12)
    # e2e = ttft + (o - 1) tpot: one prefill and 49 decode steps, 50 passes in all
    assert e.e2e_s - c.e2e_s == pytest.approx(50 * EAGER, rel=1e-12)
    assert c.host_s == km.DEFAULT_CALIBRATION.step_overhead_s
    assert e.host_s == pytest.approx(c.host_s + EAGER, rel=1e-12)
    # counted with the launch overhead; GPU work is unchanged
    assert e.breakdown["launch_overhead"] - c.breakdown["launch_overhead"] == pytest.approx(EAGER)
    for k in ("compute", "hbm", "communication", "pipeline_bubble"):
        assert e.breakdown[k] == c.breakdown[k]
    assert sum(e.breakdown.values()) == pytest.approx(e.tpot_s, rel=1e-12)
    assert "eager_server runtime" in e.insight and "compiled" in e.insight
    # the timeline holds GPU work only: the GPUs wait out the host time
    assert e.timeline["end_s"].max() == pytest.approx(c.timeline["end_s"].max())


def test_server_host_time_follows_its_calibration_field():
    e0 = km.simulate(**BASE, runtime="eager_server", efficiency={"eager_server_step_s": 0.0})
    c = km.simulate(**BASE)
    assert e0.tpot_s == pytest.approx(c.tpot_s, rel=1e-12)
    e5 = km.simulate(**BASE, runtime="eager_server", efficiency={"eager_server_step_s": 5e-3})
    assert e5.tpot_s - c.tpot_s == pytest.approx(5e-3)
    # the field does nothing on a compiled runtime
    c5 = km.simulate(**BASE, efficiency={"eager_server_step_s": 5e-3})
    assert c5.tpot_s == c.tpot_s


def test_batching_shares_the_server_host_time():
    per_token = [km.simulate(**{**BASE, "batch": b}, runtime="eager_server").tpot_s / b for b in (1, 8)]
    assert per_token[1] < per_token[0] / 4


def test_unknown_runtime_names_the_closest():
    with pytest.raises(ValueError, match=r"runtime='eager_srv' is not allowed; closest: eager_server"):
        km.Scenario(runtime="eager_srv")


def test_sweep_runtime_axis_matches_simulate():
    df = km.sweep({**{k: v for k, v in BASE.items()}, "tp": [1, 8], "runtime": ["compiled", "eager_server", "trtllm", "vllm"]})
    for _, r in df.iterrows():
        res = km.simulate(**{**BASE, "tp": int(r["tp"])}, runtime=r["runtime"])
        assert r["tpot_s"] == pytest.approx(res.tpot_s, rel=1e-9)
        assert r["e2e_s"] == pytest.approx(res.e2e_s, rel=1e-9)
    with pytest.raises(ValueError, match="closest: compiled"):
        km.sweep({"runtime": ["compild"]})


HEADER = ("id,source,trust,framework,gpu,num_gpus,interconnect,model,weight_bits,tp,pp,ep,"
          "batch,prompt_tokens,output_tokens,metric,value,notes")


def test_validate_reads_the_runtime_from_framework_or_column(tmp_path):
    rows = ["a,s,B,HF TGI 1.0.3,a100-sxm-40gb,8,nvlink,llama-2-13b,16,8,1,1,1,11,50,tpot_ms,21.6,",
            "b,s,B,TGI 2.0.1,a100-sxm-40gb,8,nvlink,llama-2-13b,16,8,1,1,1,11,50,tpot_ms,9.0,"]
    p = tmp_path / "m.csv"
    p.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    df = V.validate(p).set_index("id")
    assert df.at["a", "runtime"] == "tgi-eager" and df.at["b", "runtime"] == "tgi"
    assert "tgi-eager runtime" in df.at["a", "note"] and "2.0" in df.at["a", "note"]
    c = km.simulate(**BASE)
    assert df.at["a", "predicted"] == pytest.approx((c.tpot_s + EAGER) * 1e3, rel=1e-9)
    assert df.at["b", "predicted"] == pytest.approx(c.tpot_s * 1e3, rel=1e-9)   # tgi: no fusion
    # an explicit runtime column wins; a bad name is that row's status, not a crash
    q = tmp_path / "r.csv"
    q.write_text(HEADER + ",runtime\n" + rows[0] + ",compiled\n" + rows[1] + ",eagre\n")
    df = V.validate(q).set_index("id")
    assert df.at["a", "runtime"] == "compiled"
    assert df.at["a", "predicted"] == pytest.approx(c.tpot_s * 1e3, rel=1e-9)
    assert df.at["b", "status"].startswith("cannot simulate") and "closest: tgi-eager, eager_server" in df.at["b", "status"]
    assert V.summarize(df.reset_index())["ok"] == 1


def _eager_rows(host_s):
    rows = []
    for i, (model, tp, b) in enumerate([("llama-2-7b", 8, 1), ("llama-2-13b", 8, 1),
                                         ("llama-2-70b", 8, 1), ("llama-2-13b", 4, 4)]):
        res = km.simulate(model=model, gpu="a100-sxm-40gb", interconnect="nvlink", tp=tp,
                          batch=b, prompt_tokens=11, output_tokens=50, runtime="eager_server",
                          efficiency={"eager_server_step_s": host_s})
        rows.append(dict(id=f"e{i}", source="synthetic", framework="HF TGI 1.0.3",
                         gpu="a100-sxm-40gb", num_gpus=tp, interconnect="nvlink", model=model,
                         weight_bits=16, tp=tp, pp=1, ep=1, batch=b, prompt_tokens=11,
                         output_tokens=50, metric="tpot_ms", value=res.tpot_s * 1e3))
    return pd.DataFrame(rows)


def test_fit_recovers_the_server_host_time():
    # the field alone: four rows cannot pin all eight default fields at once
    cal, rep = C.fit(_eager_rows(9e-3), params=("eager_server_step_s",))
    assert cal.eager_server_step_s == pytest.approx(9e-3, rel=0.02)
    assert cal.launch_overhead_s == km.DEFAULT_CALIBRATION.launch_overhead_s
    assert rep["mape_after"] < 1.0


def test_fit_leaves_the_server_field_alone_without_such_rows():
    df = _eager_rows(9e-3).assign(framework="TensorRT-LLM")
    cal, rep = C.fit(df, max_evals=200)
    assert "eager_server_step_s" not in list(rep["parameters"]["name"])
    assert cal.eager_server_step_s == EAGER
    assert any("eager_server_step_s not fitted" in s for s in rep["skipped"])


def test_cli_runtime_flag(capsys):
    assert cli_main(["--model", "llama-2-13b", "--gpu", "a100-sxm-40gb", "--interconnect",
                     "nvlink", "--tp", "8", "--runtime", "eager_server", "--json"]) == 0
    import json
    out = json.loads(capsys.readouterr().out)
    assert out["scenario"]["runtime"] == "eager_server"
    ref = km.simulate(model="llama-2-13b", gpu="a100-sxm-40gb", interconnect="nvlink", tp=8,
                      runtime="eager_server")
    assert out["tpot_s"] == pytest.approx(ref.tpot_s, rel=1e-12)
    assert cli_main(["--runtime", "eager_srv"]) == 2
    err = capsys.readouterr().err
    assert "--runtime" in err and "closest: eager_server" in err


def test_model_object_keeps_its_last_good_state_on_a_bad_runtime():
    m = km.ScenarioModel(**BASE)
    before = m.result.tpot_s
    m.runtime = "eager_server"
    assert m.result.tpot_s == pytest.approx(before + EAGER)
    with pytest.raises(Exception):
        m.runtime = "eager_srv"
    assert "closest: eager_server" in m.error
    assert m.runtime == "eager_server" and m.result.tpot_s == pytest.approx(before + EAGER)


HOLDOUT = V.find_measurements("holdout.csv")


def test_holdout_transfers_without_refitting():
    """The A100-fitted calibration on H100 / H200 rows, Mixtral and newer stacks (never fitted on)."""
    df = V.validate(HOLDOUT)
    s = V.summarize(df)
    assert s["ok"] == len(df) == 23
    assert set(df["gpu"]) == {"h100-sxm", "h200-sxm"} and "mixtral-8x7b" in set(df["model"])
    assert s["overall"] < 10.0
    assert (s["by_source"]["mape"] < 20.0).all()
    assert df["error_pct"].abs().max() < 30.0
    tps = s["tp_scaling"]                    # the NeMo H100 sweeps, TP 1 -> 8 at batch 1..8
    assert len(tps) == 4 and (tps["diff_pct"].abs() < 15.0).all()


@pytest.mark.skipif(V.find_measurements() is None, reason="published measurements file not found")
def test_published_measurements_meet_every_issue_target():
    tg = V.targets(V.summarize(V.validate(V.find_measurements())))
    failed = tg[~tg["passed"]]
    assert failed.empty, failed.to_string()
    assert any(t.startswith("MAPE hf-tgi-sagemaker") for t in tg["target"])


def test_optimize_searches_plans_on_the_given_runtime():
    kw = dict(model="llama-2-13b", gpu="a100-sxm-40gb", num_gpus=8, max_tpot_s=0.040,
              batch=(1, 8, 64), weight_bits=(16,), kv_bits=(16,), overlap=(0.0,))
    c = km.optimize(**kw)
    e = km.optimize(**kw, runtime="eager_server")
    assert e.scenario.runtime == "eager_server" and c.scenario.runtime == "compiled"
    assert e.result.tpot_s == pytest.approx(km.simulate(e.scenario).tpot_s)
    assert e.result.tpot_s <= 0.040
    # host time on every step can only cost throughput under the same latency limit
    assert e.best["tokens_per_s_per_gpu"] < c.best["tokens_per_s_per_gpu"]
    assert cli_main(["optimize", "--model", "llama-2-13b", "--runtime", "eager_srv"]) == 2


def test_vllm_and_sglang_run_nccl_over_pcie_beyond_two_gpus():
    """vLLM's custom all-reduce (SGLang's is vLLM's) refuses more than two PCIe-only GPUs
    ("not supported on more than two PCIe-only GPUs", custom_all_reduce.py): there "auto" is
    NCCL's own choice, the ring, exactly. With 2 GPUs over PCIe, or 8 on an NVLink mesh,
    its one-shot kernel is faster than the ring; a stack without the rule keeps it at tp 8
    over PCIe; llama.cpp has no custom all-reduce anywhere."""
    kw = dict(model="llama-3.1-70b", gpu="rtx-pro-6000", interconnect="pcie5_good", batch=1)

    def comm(**k):
        return km.simulate(**{**kw, **k}).breakdown["communication"]
    for rt in ("vllm", "sglang"):
        assert km.get_runtime(rt).custom_allreduce == "mesh"
        for tp in (4, 8):
            assert comm(tp=tp, runtime=rt) == comm(tp=tp, runtime=rt, algorithm="ring")
        assert comm(tp=2, runtime=rt) < comm(tp=2, runtime=rt, algorithm="ring")
        assert comm(tp=8, runtime=rt, gpu="h100-sxm", interconnect="nvlink4") < comm(
            tp=8, runtime=rt, gpu="h100-sxm", interconnect="nvlink4", algorithm="ring")
    assert comm(tp=8, runtime="compiled") < comm(tp=8, runtime="compiled", algorithm="ring")
    # vLLM's kernel takes world sizes 2, 4, 6 and 8 only (_SUPPORTED_WORLD_SIZES): NVLink TP 3
    # runs NCCL, TP 4 its kernel
    nv = dict(gpu="h100-sxm", interconnect="nvlink4", model="opt-66b")   # 72 heads, MHA
    assert comm(tp=3, runtime="vllm", **nv) == comm(tp=3, runtime="vllm", algorithm="ring", **nv)
    assert comm(tp=6, runtime="vllm", **nv) < comm(tp=6, runtime="vllm", algorithm="ring", **nv)
    for tp in (2, 8):
        assert comm(tp=tp, runtime="llamacpp") == comm(tp=tp, runtime="llamacpp", algorithm="ring")
    # a sweep over runtimes and TP applies the rule point by point as simulate does
    df = km.sweep({**kw, "tp": [2, 4, 8], "runtime": ["vllm", "compiled", "llamacpp"]})
    for _, r in df.iterrows():
        assert r["tpot_s"] == pytest.approx(
            km.simulate(**kw, tp=int(r["tp"]), runtime=r["runtime"]).tpot_s, rel=1e-12)


def test_trtllm_runs_nccl_wherever_nvlink_does_not_join_the_gpus():
    """TensorRT-LLM's AUTO all-reduce returns NCCL when the GPUs are not NVLink-connected
    (AllreducePlugin::selectImplementation; the PyTorch backend's allreduceOp the same), even
    for 2 GPUs over PCIe, where vLLM's kernel runs. On NVLink its one-shot kernel beats the
    ring at batch 1."""
    kw = dict(model="llama-3.1-70b", gpu="rtx-pro-6000", interconnect="pcie5_good", batch=1)

    def comm(**k):
        return km.simulate(**{**kw, **k}).breakdown["communication"]
    for rt in ("trtllm", "trtllm-pytorch"):
        assert km.get_runtime(rt).custom_allreduce == "nvlink"
        for tp in (2, 4, 8):
            assert comm(tp=tp, runtime=rt) == comm(tp=tp, runtime=rt, algorithm="ring")
        nv = dict(gpu="h100-sxm", interconnect="nvlink4")
        for tp in (2, 8):
            assert comm(tp=tp, runtime=rt, **nv) < comm(tp=tp, runtime=rt, algorithm="ring", **nv)
    assert comm(tp=2, runtime="vllm") < comm(tp=2, runtime="trtllm")
