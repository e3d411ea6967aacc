"""Exact invariants (issue 12 item 21), on generated cases: no time is ever negative, one
pipeline stage has no bubble at all, a training timeline ends exactly at iteration_s."""
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st, assume  # noqa: E402

import kernel_model as km  # noqa: E402
from kernel_model.sweep import sweep  # noqa: E402

MODELS = ["llama-2-7b", "llama-2-70b", "mixtral-8x7b", "deepseek-v2-lite", "opt-13b", "qwen3-30b-a3b"]

scenarios = st.fixed_dictionaries({
    "model": st.sampled_from(MODELS),
    "gpu": st.sampled_from(["h100-sxm", "a100-sxm-80gb", "rtx-4090", "b200"]),
    "interconnect": st.sampled_from(["nvlink", "nvlink4", "pcie4_bad", "ib_ndr"]),
    "tp": st.sampled_from([1, 2, 4, 8]), "pp": st.sampled_from([1, 1, 2, 3, 4]),
    "ep": st.sampled_from([1, 1, 2, 4]), "batch": st.integers(1, 256),
    "prompt_tokens": st.integers(1, 20000), "output_tokens": st.integers(1, 2000),
    "micro_batches": st.integers(1, 16), "overlap": st.floats(0.0, 1.0),
    "comm_group": st.integers(1, 8), "flash_attention": st.booleans(),
    "gpus_per_node": st.sampled_from([2, 4, 8]),
})


def _scenario(kw):
    kw = dict(kw, micro_batches=min(kw["micro_batches"], kw["batch"]))
    try:
        return km.Scenario(**kw)
    except ValueError:
        assume(False)


@settings(max_examples=300, deadline=None)
@given(scenarios)
def test_inference_times_never_negative_and_one_stage_has_no_bubble(kw):
    sc = _scenario(kw)
    r = km.simulate(sc)
    for bd, total in ((r.breakdown, r.tpot_s), (r.ttft_breakdown, r.ttft_s)):
        assert all(v >= 0.0 for v in bd.values()), bd
        assert abs(sum(bd.values()) - total) <= 1e-12 * total
        if sc.pp == 1:
            assert bd["pipeline_bubble"] == 0.0
    assert all(v >= 0.0 for v in r.memory.values())


def test_prefill_with_many_micro_batches_on_one_stage_regression():
    """Issue 12 item 21: (m - 1) t + t != m t in floats gave a +-1e-18 bubble / negative
    communication in the TTFT breakdown (e.g. 7 or 12 micro-batches on one stage)."""
    for m in (3, 6, 7, 12, 24):
        for model in ("llama-2-7b", "mixtral-8x7b"):
            r = km.simulate(model=model, tp=2, batch=48, micro_batches=m, prompt_tokens=1537)
            assert r.ttft_breakdown["pipeline_bubble"] == 0.0
            assert r.ttft_breakdown["communication"] >= 0.0


def test_sweep_columns_keep_the_invariants_exactly():
    df = sweep({"model": ["llama-2-7b", "mixtral-8x7b"], "tp": [1, 2, 4], "pp": [1, 2, 3],
                "batch": [12, 48], "micro_batches": [1, 3, 7, 12], "prompt_tokens": [33, 1537],
                "overlap": [0.0, 0.35, 1.0]}, invalid="drop", ttft_breakdown=True, progress=False)
    for c in km.simulate().breakdown:
        assert (df[f"{c}_s"] >= 0).all() and (df[f"ttft_{c}_s"] >= 0).all()
    one = df["pp"] == 1
    assert (df.loc[one, "pipeline_bubble_s"] == 0).all()
    assert (df.loc[one, "ttft_pipeline_bubble_s"] == 0).all()


training = st.fixed_dictionaries({
    "model": st.sampled_from(["gpt-6.7b", "gpt-22b", "llama-2-7b", "mixtral-8x7b"]),
    "gpu": st.sampled_from(["a100-sxm-80gb", "h100-sxm"]),
    "seq_len": st.sampled_from([512, 2048]), "global_batch": st.sampled_from([8, 16, 48, 96]),
    "micro_batch": st.sampled_from([1, 2]), "dp": st.sampled_from([1, 2]),
    "tp": st.sampled_from([1, 2, 4, 8]), "pp": st.sampled_from([2, 3, 4, 8]),
    "recompute": st.sampled_from(["none", "selective", "full"]),
    "schedule": st.sampled_from(["1f1b", "gpipe"]),
})


@settings(max_examples=300, deadline=None)
@given(training)
def test_training_timeline_ends_exactly_at_iteration_s(kw):
    from kernel_model.training import simulate_training
    try:
        r = simulate_training(**kw)
    except ValueError:
        assume(False)
    tl = r.timeline
    assert tl["end_s"].max() == r.iteration_s
    assert (tl["start_s"] >= 0).all() and (tl["duration_s"] >= 0).all()
    assert all(v >= 0 for v in r.breakdown.values())
