"""kernel_model.gemm (GEMM mode, CLI) and the RooflineChart widget."""
import json

import numpy as np
import pytest

import kernel_model as km
from kernel_model.calibration import DEFAULT
from kernel_model.gemm import gemm, cli_main


def _roofline_time(flops, byts, peak, bw):
    """The engine's roofline written out: (c^n + m^n)^(1/n) of compute and memory time."""
    c = flops / (peak * DEFAULT.flops_efficiency)
    m = byts / (bw * DEFAULT.hbm_efficiency)
    n = DEFAULT.roofline_exponent
    return (c ** n + m ** n) ** (1 / n), c, m


def test_square_gemm_hand_computed():
    n = 8192
    r = gemm(n, n, n, gpu="h100-sxm", dtype="bf16")
    flops, byts = 2.0 * n ** 3, 3.0 * n * n * 2
    t, c, m = _roofline_time(flops, byts, 989e12, 3350e9)
    assert r.flops == flops and r.bytes_per_gpu == byts
    assert r.arithmetic_intensity == pytest.approx(n / 3)          # 2n^3 / (3 n^2 * 2 B)
    assert r.time_s == pytest.approx(t + DEFAULT.launch_overhead_s, rel=1e-9)
    assert r.bound == "compute" and r.comm_s == 0 and r.collective == "none"
    assert r.achieved_tflops == pytest.approx(flops / r.time_s / 1e12)
    assert r.achieved_tflops <= r.achievable_tflops <= r.peak_tflops == 989
    assert r.ridge_intensity == pytest.approx(989e12 * DEFAULT.flops_efficiency
                                              / (3350e9 * DEFAULT.hbm_efficiency))


def test_gemv_is_memory_bound_and_crosses_the_ridge():
    r = gemm(1, 8192, 8192, gpu="a100-sxm-80gb")
    assert r.bound == "memory" and r.arithmetic_intensity < 2
    ms = [1, 8, 64, 512, 4096]
    res = [gemm(m, 8192, 8192, gpu="a100-sxm-80gb") for m in ms]
    ai = [x.arithmetic_intensity for x in res]
    tf = [x.achieved_tflops for x in res]
    assert ai == sorted(ai) and tf == sorted(tf)
    assert [x.bound for x in res][0] == "memory" and [x.bound for x in res][-1] == "compute"
    for x in res:      # bound flips where intensity crosses the ridge point
        assert (x.bound == "compute") == (x.arithmetic_intensity >= x.ridge_intensity)


def test_fp8_doubles_compute_bound_throughput_on_h100():
    b = gemm(8192, 8192, 8192, gpu="h100-sxm", dtype="bf16")
    f = gemm(8192, 8192, 8192, gpu="h100-sxm", dtype="fp8")
    assert f.peak_tflops == 1979
    assert 1.6 < f.achieved_tflops / b.achieved_tflops <= 2.0
    t32 = gemm(8192, 8192, 8192, gpu="h100-sxm", dtype="fp32")
    assert t32.peak_tflops == pytest.approx(989 / 2)
    with pytest.raises(ValueError, match="no FP8"):
        gemm(1024, 1024, 1024, gpu="a100-sxm-80gb", dtype="fp8")


def test_row_shard_all_reduce_and_col_shard_all_gather():
    m = k = n = 4096
    S = m * n * 2.0
    bw = km.get_interconnect("nvlink4").bw_gbps * 1e9
    for tp in (2, 8):
        row = gemm(m, k, n, gpu="h100-sxm", tp=tp, shard="row")
        assert row.collective == "all-reduce" and row.comm_bytes == S
        ring = 2 * (tp - 1) / tp * S / bw                    # bandwidth term of a ring all-reduce
        assert min(ring, S / bw) * 0.95 <= row.comm_s <= ring * 1.5 + 100e-6
        col = gemm(m, k, n, gpu="h100-sxm", tp=tp, shard="col")
        assert col.collective == "all-gather"
        assert (tp - 1) / tp * S / bw * 0.95 <= col.comm_s <= (tp - 1) / tp * S / bw * 1.5 + 100e-6
        one = gemm(m, k, n, gpu="h100-sxm")
        assert row.flops_per_gpu == pytest.approx(one.flops / tp)
        assert row.kernel_s < one.kernel_s
    assert gemm(m, k, n, gpu="h100-sxm", tp=4, gather=False).comm_s == 0
    assert gemm(m, k, n, gpu="h100-sxm", tp=4, interconnect="pcie5_good", shard="row").comm_s > \
        gemm(m, k, n, gpu="h100-sxm", tp=4, shard="row").comm_s


def test_backward_is_three_gemms():
    f = gemm(4096, 4096, 4096, gpu="a100-sxm-80gb")
    b = gemm(4096, 4096, 4096, gpu="a100-sxm-80gb", backward=True)
    assert b.flops == 3 * f.flops
    assert 2.7 * f.kernel_s < b.kernel_s < 3.1 * f.kernel_s
    c = gemm(4096, 4096, 4096, gpu="a100-sxm-80gb", tp=2, backward=True)
    assert "all-reduce" in c.collective


@pytest.mark.parametrize("kw, field", [
    (dict(m=0), "m"), (dict(dtype="fp4"), "dtype"), (dict(shard="diag"), "shard"),
    (dict(tp=3), "tp"), (dict(gpu="h1000"), "gpu"), (dict(tp=2, shard="row", k=4095), "k"),
])
def test_bad_input(kw, field):
    args = dict(m=64, k=4096, n=4096, gpu="h100-sxm")
    args.update(kw)
    with pytest.raises(ValueError, match=field):
        gemm(**args)


@pytest.mark.parametrize("kw, hint", [
    (dict(dtype="bf61"), "closest: bf16"), (dict(shard="cols"), "closest: col"),
    (dict(algorithm="rign"), "closest: ring"),
])
def test_name_typos_suggest_the_closest(kw, hint):
    with pytest.raises(ValueError, match=hint):
        gemm(64, 4096, 4096, gpu="h100-sxm", **kw)


def test_cli(capsys):
    base = ["--mode", "gemm", "--m", "4096", "--k", "4096", "--n", "4096", "--gpu", "h100-sxm"]
    assert cli_main(base) == 0
    assert "COMPUTE-BOUND" in capsys.readouterr().out
    assert cli_main(base + ["--dtype", "fp8", "--tp", "2", "--shard", "row", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    ref = gemm(4096, 4096, 4096, gpu="h100-sxm", dtype="fp8", tp=2, shard="row")
    assert d["time_s"] == pytest.approx(ref.time_s) and d["bound"] == ref.bound
    for bad in (base + ["--dtype", "int3"], ["--mode", "gemm", "--k", "1", "--n", "1"],
                base + ["--tp", "two"], base[:-1] + ["b400"]):
        assert cli_main(bad) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("nexora: error:")
    assert cli_main(base + ["--dtpye", "fp8"]) == 2          # a misspelt flag: its closest
    assert "closest: --dtype" in capsys.readouterr().err
    assert cli_main(["--mode", "training", "--m", "1", "--k", "1", "--n", "1"]) == 2
    assert "this is the gemm mode" in capsys.readouterr().err


# ---- RooflineChart ------------------------------------------------------------------------
def test_roofline_chart_places_every_kernel_under_the_roof():
    pytest.importorskip("bqplot")
    from kernel_model.model_object import ScenarioModel
    from nexora_widgets.roofline import RooflineChart, kernel_points
    from kernel_model.kernels import LAYER_KERNELS, KIND

    m = ScenarioModel(model="llama-2-7b", gpu="h100-sxm", interconnect="nvlink4", tp=2)
    chart = RooflineChart(m)
    assert chart.status.value == ""
    names = set(n.split(": ")[1] for n in chart.dots["decode"].names)
    assert {n for n in LAYER_KERNELS if KIND[n] == "gemm" and n != "router"} <= names
    g = km.get_gpu("h100-sxm")
    cal = m.result.scenario.calibration()
    for ph in ("prefill", "decode"):
        x, y = np.asarray(chart.dots[ph].x), np.asarray(chart.dots[ph].y)
        roof = np.minimum(g.bf16_tflops * cal.flops_efficiency,
                          g.hbm_gbps / 1e3 * cal.hbm_efficiency * x)
        assert len(x) and (y <= roof * (1 + 1e-9)).all()
    # batch 1 decode GEMMs sit at ~1 FLOP/byte; a larger batch moves them right
    ai1 = dict(zip(chart.dots["decode"].names, chart.dots["decode"].x))["decode: mlp_up"]
    m.batch = 64
    ai64 = dict(zip(chart.dots["decode"].names, chart.dots["decode"].x))["decode: mlp_up"]
    assert ai1 < 2 and ai64 > 30 * ai1
    chart.add_gemm(gemm(4096, 4096, 4096, gpu="h100-sxm"))
    assert len(chart.gemm_dots.x) == 1 and chart.gemm_dots.x[0] == pytest.approx(4096 / 3)
    assert kernel_points(m.result)["roof"]["peak"] == g.bf16_tflops * 1e12


def test_roofline_chart_keeps_last_good_state_on_error(monkeypatch):
    pytest.importorskip("bqplot")
    from kernel_model.model_object import ScenarioModel
    from nexora_widgets import roofline

    m = ScenarioModel(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=1)
    chart = roofline.RooflineChart(m)
    before = list(chart.dots["decode"].y)

    def boom(res):
        raise ValueError("kernel table unavailable")
    monkeypatch.setattr(roofline, "kernel_points", boom)
    m.batch = 16
    assert "kernel table unavailable" in chart.status.value
    assert list(chart.dots["decode"].y) == before
