"""How a runtime sizes its KV cache (``Runtime.kv_of_free``): vLLM and SGLang take
``kv_cache_fraction`` of the whole GPU less weights and activations (gpu_memory_utilization,
mem_fraction_static); TensorRT-LLM's PyTorch backend takes the fraction of what is left after
the weights and the activation peak of a profiling pass (KvCacheCreator,
free_gpu_memory_fraction)."""
import dataclasses
from pathlib import Path

import pandas as pd
import pytest

import kernel_model as km
from kernel_model import runtime as R, tables
from kernel_model.serving import max_throughput
from kernel_model.serving.config import as_float_params, kv_capacity_tokens
from kernel_model.simulate import params

MiB = 1024 ** 2
OVERVIEW = (Path(__file__).parent.parent / "benchmarks" / "data"
            / "trtllm-perf-overview-h100-h200.csv")
KW = dict(model="llama-3.1-70b", gpu="h100-sxm", weight_format="fp8", kv_bits=8)


def _kv(runtime, fraction=0.9, pass_tokens=8192, **kw):
    P = as_float_params(params(km.Scenario(**dict(KW, **kw), runtime=runtime)))
    return kv_capacity_tokens(P, fraction, pass_tokens)


def test_only_the_pytorch_backend_sizes_from_what_is_left():
    assert km.get_runtime("trtllm-pytorch").kv_of_free
    assert "KvCacheCreator" in km.get_runtime("trtllm-pytorch").source
    for name in R.RUNTIMES:
        if name != "trtllm-pytorch":
            assert not R.RUNTIMES[name].kv_of_free, name


def test_70b_fp8_on_one_h100_by_hand():
    """80 layers x 8 KV heads x 128 x (K, V) x 1 byte = 163,840 B a token. The GPU holds
    the 81,559 MiB its driver reports (``gpu_memory``); weights W and activations A are the
    memory model's. vLLM's rule: 0.9 x C - W - A; the PyTorch backend's: 0.9 x (C - W - A)."""
    v_tok, v = _kv("vllm")
    t_tok, t = _kv("trtllm-pytorch")
    assert v["kv_bytes_per_token"] == t["kv_bytes_per_token"] == 80 * 8 * 128 * 2
    used = v["weights"] + v["activations"]
    assert (t["weights"], t["activations"]) == (v["weights"], v["activations"])
    assert 70e9 < v["weights"] < 75e9          # 70.6 B parameters in FP8, 16-bit embeddings
    cap = 81559 * MiB
    assert v_tok * 163840 == pytest.approx(0.9 * cap - used, rel=1e-12)
    assert t_tok * 163840 == pytest.approx(0.9 * (cap - used), rel=1e-12)
    # about 2.5 GB of room against 10 GB: four times the KV cache on the same GPU
    assert 3.5 < t_tok / v_tok < 4.5


@pytest.mark.parametrize("fraction", [0.5, 0.8, 0.9, 0.95, 1.0])
@pytest.mark.parametrize("kw", [dict(), dict(tp=2), dict(model="llama-3.1-8b"),
                                dict(gpu="h200-sxm", tp=4)])
def test_what_is_left_is_never_less_room(fraction, kw):
    """f (C - U) >= f C - U for U >= 0: the PyTorch backend's room is never the smaller, and
    the two rules agree exactly when the whole memory is offered."""
    v_tok, _ = _kv("vllm", fraction, **kw)
    t_tok, _ = _kv("trtllm-pytorch", fraction, **kw)
    assert t_tok >= v_tok
    if fraction == 1.0:
        assert t_tok == pytest.approx(v_tok, rel=1e-12)


def test_a_model_too_big_for_the_gpu_still_says_so():
    with pytest.raises(ValueError, match="what is left of"):
        max_throughput(km.Scenario(model="llama-3.1-70b", gpu="h100-sxm",
                                      runtime="trtllm-pytorch"), 100, 100)


def _rows():
    df = pd.read_csv(OVERVIEW)
    sel = df[df.framework.str.contains("PyTorch") & (df.gpu == "h100-sxm") & (df.tp == 1)
             & df.model.str.contains("70b")]
    assert len(sel) >= 12
    return sel


def test_the_kv_limited_h100_rows_of_the_pytorch_backend(tmp_path, monkeypatch):
    """Llama 70B FP8 on one 80 GB H100 with TensorRT-LLM 0.19 / 0.20 (perf overview): the
    KV cache limits every row. Sized from the whole GPU they run at a quarter of the
    measured throughput; sized as the backend does, within 10 % on average."""
    path = tmp_path / "rows.csv"
    _rows().to_csv(path, index=False)
    now = km.validate(str(path))
    assert (now.status == "ok").all()
    assert now.error_pct.abs().mean() < 10
    old = dataclasses.replace(R.RUNTIMES["trtllm-pytorch"], kv_of_free=False)
    monkeypatch.setitem(R.RUNTIMES, "trtllm-pytorch", old)
    tables.runtime_row.cache_clear()
    try:
        before = km.validate(str(path))
    finally:
        monkeypatch.undo()
        tables.runtime_row.cache_clear()
    assert before.error_pct.mean() < -50
    assert (before.predicted.values < now.predicted.values).all()
