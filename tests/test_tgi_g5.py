"""TGI 1.0.3 on AWS g5 (A10G): the half of the Llama 2 SageMaker study that fits, with its p4d
rows, TGI < 2.0's host time per pass (``eager_server_step_s``; kernel_model/data/README.md),
and an nccl-tests row of the same instances (benchmarks/data/nccl-pcie-datacenter.csv)."""
import os

import pandas as pd
import pytest

import kernel_model.validate as V
import kernel_model.validate_collectives as VC
from kernel_model import refit
from kernel_model.calibration import DEFAULT

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def g5():
    return V.validate(V.find_measurements(refit.EAGER_FILE), progress=False)


def test_the_g5_rows_run_tgi_eager_over_host_staged_pcie(g5):
    assert len(g5) == 11 and (g5.status == "ok").all()
    assert set(g5.runtime) == {"tgi-eager"} and set(g5.gpu) == {"a10g"}
    assert set(g5.weight_format) == {"fp16", "gptq"} and (g5.weight_format == "fp16").sum() == 6
    multi = g5[g5.tp > 1]
    assert set(multi.interconnect) == {"pcie4_bad"}          # AWS g5: NCCL through host memory
    assert set(g5[g5.tp == 1].interconnect) == {"none"}


def test_the_two_machines_disagree_on_the_host_time_a_pass():
    """With no host time the model leaves 12+ ms a pass unexplained on every p4d row (8 x A100)
    and under 6.5 ms on every g5 FP16 row, though the A100s run every part of a step faster:
    one constant cannot fit both, which is why the fit splits them."""
    cal = DEFAULT.replace(eager_server_step_s=0.0)
    rows = refit.eager_rows()
    p4d, g5 = (V.validate(df, calibration=cal, progress=False) for df in rows.values())
    assert (p4d.metric == "tpot_ms").all() and (g5.metric == "e2e_latency_s").all()
    p4d_ms = p4d.measured - p4d.predicted                       # ms a token, one pass each
    g5_ms = (g5.measured - g5.predicted) / 50 * 1e3             # 50 passes a request
    assert p4d_ms.min() > 12.0 and g5_ms.max() < 6.5


def test_the_fit_reproduces_the_shipped_value():
    """Unconstrained, the machines' MAPEs meet where the worse is smallest; the shipped value
    is the smallest above it that keeps the p4d source within measurements.csv's 20 %
    per-source target (issue 5), and no smaller value does."""
    from kernel_model.validate_report import TARGET_SOURCE
    cal, by, free = refit.eager_server(DEFAULT)
    assert cal.eager_server_step_s == pytest.approx(DEFAULT.eager_server_step_s, abs=2e-5)
    p4d, g5 = by.values()
    assert p4d <= TARGET_SOURCE and g5 < 30.0
    at_free = refit.eager_mape(DEFAULT.replace(eager_server_step_s=free))
    assert abs(at_free[next(iter(at_free))] - list(at_free.values())[1]) < 1.0
    for dx in (-1e-3, 1e-3):                  # the worse machine is worse either side of it
        other = refit.eager_mape(DEFAULT.replace(eager_server_step_s=free + dx))
        assert max(other.values()) > max(at_free.values())
    below = refit.eager_mape(DEFAULT.replace(eager_server_step_s=cal.eager_server_step_s - 1e-4))
    assert next(iter(below.values())) > TARGET_SOURCE


def test_the_p4d_only_value_missed_the_g5_rows(g5):
    """The value it replaces, 15.5 ms from the p4d rows alone, put the g5 FP16 rows 54 % slow."""
    old = V.validate(V.find_measurements(refit.EAGER_FILE),
                     calibration=DEFAULT.replace(eager_server_step_s=15.5e-3), progress=False)
    fp16 = old.weight_format == "fp16"
    assert old[fp16].error_pct.abs().mean() > 50.0 and (old[fp16].error_pct > 0).all()
    assert g5[g5.weight_format == "fp16"].error_pct.abs().mean() < 30.0
    assert g5.error_pct.abs().mean() < old.error_pct.abs().mean() - 10.0


def test_the_a10g_nccl_row_sits_on_the_host_staged_preset():
    """A 29 MB all-reduce on 4 A10G (g5.12xlarge, NCCL 2.18.5) ran at 3.10 GB/s bus bandwidth:
    the 3.11 GB/s the GeForce boxes set for ``pcie4_bad``, the A10G's own link."""
    path = os.path.join(ROOT, "benchmarks", "data", "nccl-pcie-datacenter.csv")
    out = VC.validate_collectives(pd.read_csv(path), path)
    a10g = out[out.system.str.contains("A10G")]
    assert len(a10g) == 1 and set(a10g.preset) == {"pcie4_bad"}
    assert abs(a10g.error_pct.iloc[0]) < 2.0
