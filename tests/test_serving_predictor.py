"""The mixed-batch step: one closed form with simulate()."""
import numpy as np
import pytest

import kernel_model as km
from kernel_model.simulate import params
from kernel_model.serving.predictor import mixed_step, StepModel

CASES = [
    dict(),
    dict(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=4, batch=16,
         prompt_tokens=1000, output_tokens=300),
    dict(model="llama-2-70b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=2, pp=2,
         micro_batches=2, batch=8, overlap=0.5),
    dict(model="qwen3-30b-a3b", gpu="h100-sxm", tp=2, ep=2, interconnect="nvlink4", batch=32,
         flash_attention=False),
    # runtimes with host time per sequence, one of them pipelined
    dict(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=4, batch=64,
         runtime="trtllm-pytorch"),
    dict(model="llama-2-70b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=2, pp=2,
         micro_batches=2, batch=8, runtime="vllm"),
]


@pytest.mark.parametrize("kw", CASES)
def test_pure_decode_and_prefill_equal_simulate(kw):
    sc = km.Scenario(**kw)
    res, P = km.simulate(sc), params(sc)
    B, p, o = sc.batch, sc.prompt_tokens, sc.output_tokens
    assert float(mixed_step(P, B, p + o / 2, 0)) == pytest.approx(res.tpot_s, rel=1e-12)
    assert float(mixed_step(P, 0, 0, B * p, 0, B)) == pytest.approx(res.ttft_s, rel=1e-12)
    fast = StepModel(P, B * p)
    m = sc.micro_batches
    assert fast.step(B, B * (p + o / 2), m=m) == pytest.approx(res.tpot_s, rel=1e-9)
    assert fast.step(0, 0, [(p, 0, True)] * B, m=m) == pytest.approx(res.ttft_s, rel=1e-7)


@pytest.mark.parametrize("kw", CASES)
def test_fast_path_equals_vectorised_on_mixed_passes(kw):
    sc = km.Scenario(**kw)
    P = params(sc)
    fast = StepModel(P, 5000)
    rng = np.random.default_rng(0)
    d = rng.integers(1, 64, 20).astype(float)
    ctx = rng.integers(10, 3000, 20).astype(float)
    q = rng.integers(1, 2000, 20).astype(float)
    k = rng.integers(0, 3000, 20).astype(float)
    m = float(sc.micro_batches)
    whole = ((d + q) % m == 0) & ((d + 1) % m == 0)   # whole tokens per micro-batch: table points
    vec = mixed_step(P, d, ctx, q, k, 1.0, micro_batches=m)
    one = np.array([fast.step(d[i], d[i] * ctx[i], [(q[i], k[i], True)], m=m)
                    for i in range(20)])
    np.testing.assert_allclose(one[whole], vec[whole], rtol=1e-9)
    # half tokens per micro-batch interpolate between neighbours (collectives switch algorithm)
    np.testing.assert_allclose(one[~whole], vec[~whole], rtol=1e-4)


def test_mixed_pass_costs_more_than_either_part_and_less_than_both():
    sc = km.Scenario(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="none")
    P = params(sc)
    dec = float(mixed_step(P, 32, 1000, 0))
    pre = float(mixed_step(P, 0, 0, 512, 0, 1))
    mix = float(mixed_step(P, 32, 1000, 512, 0, 1))
    assert max(dec, pre) < mix < dec + pre          # one pass reads the weights once


def test_chunk_after_cached_context_costs_more_attention():
    sc = km.Scenario(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="none")
    P = params(sc)
    cold = float(mixed_step(P, 0, 0, 512, 0, 1))
    warm = float(mixed_step(P, 0, 0, 512, 4000, 1))
    assert warm > cold


@pytest.mark.parametrize("kw", CASES)
def test_decode_shortcuts_equal_the_general_step(kw):
    sc = km.Scenario(**kw)
    fast = StepModel(params(sc), 5000)
    m = float(sc.micro_batches)
    for d in (1, 2, 7, 64):
        ctx0 = d * 900.0
        ref = [fast.step(d, ctx0 + d * j, (), m) for j in range(30)]
        one = [fast.decode_time(d, ctx0 + d * j, m) for j in range(30)]
        many = fast.decode_times(d, ctx0, 30, m)
        np.testing.assert_allclose(one, ref, rtol=1e-12)
        np.testing.assert_allclose(many, ref, rtol=1e-12)
