"""Staged through host memory (no P2P), an A100 moves 5.2 GB/s of bus bandwidth where the
graphics-class chips the ``pcie4_bad`` preset stands for move ~3.1: a property of the GPU
(``GPU.host_staged_gbps``) that a host-staged link carries in place of its preset's."""
import os

import numpy as np
import pytest

import kernel_model as km
from kernel_model import collectives as coll
from kernel_model import validate_collectives as VC
from kernel_model.hardware import COLLECTIVE_CONSTANTS as K, GPUS
from kernel_model.simulate import link_params

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "benchmarks", "data", "nccl-pcie-datacenter.csv")
GIB = 2 ** 30


def allreduce_s(gpu, link, S, n=4):
    L = link_params(km.get_gpu(gpu) if gpu else None, km.get_interconnect(link),
                    km.get_interconnect("ib_ndr"), "auto", 8, direct_max=0.0)
    return float(coll.allreduce(S, n, L, K["eager_call_s"]))


def test_a_1_gib_all_reduce_through_host_memory_runs_at_the_gpus_own_rate():
    """4 ranks, 1 GiB: 2 (n-1)/n x S bytes at the bus bandwidth, plus a few steps' latency
    (under 0.1 % of the ~300 ms)."""
    wire = 2 * 3 / 4 * GIB
    a100 = allreduce_s("a100-pcie-80gb", "pcie4_bad", GIB)
    rtx = allreduce_s("rtx-4090", "pcie4_bad", GIB)
    assert a100 == pytest.approx(wire / 5.2e9, rel=2e-3)
    assert rtx == pytest.approx(wire / (km.get_interconnect("pcie4_bad").bw_gbps * 1e9), rel=2e-3)
    assert allreduce_s(None, "pcie4_bad", GIB) == rtx      # no GPU named: the preset's rate


def test_only_a_host_staged_link_takes_the_gpus_rate():
    for link in ("pcie4_good", "nvlink", "pcie4_dual_socket"):
        assert allreduce_s("a100-pcie-80gb", link, GIB) == allreduce_s("rtx-4090", link, GIB)


def test_every_a100_preset_has_the_rate_and_the_graphics_chips_do_not():
    a100s = [g for n, g in GPUS.items() if n.startswith(("a100-", "a800-"))]
    assert len(a100s) == 5 and {g.host_staged_gbps for g in a100s} == {5.2}
    assert all(g.host_staged_source for g in a100s)
    for name in ("a10g", "rtx-4090", "rtx-3090", "l40s", "rtx-a6000"):
        assert km.get_gpu(name).host_staged_gbps is None


def test_more_bandwidth_is_never_slower_when_a_sweep_sets_the_link_rate():
    """A swept link bandwidth replaces the GPU's own rate, so --sweep-bw keeps its meaning."""
    df = km.sweep({"model": ["llama-2-13b"], "gpu": ["a100-pcie-80gb"], "interconnect": ["pcie4_bad"],
                   "tp": [4], "batch": [16], "link_bw_gbps": [2.0, 5.2, 12.0]})
    comm = df.sort_values("link_bw_gbps")["communication_s"].to_numpy()
    assert np.all(np.diff(comm) < 0)
    plain = km.simulate(model="llama-2-13b", gpu="a100-pcie-80gb", interconnect="pcie4_bad",
                        tp=4, batch=16)
    assert comm[1] == pytest.approx(plain.breakdown["communication"], rel=1e-9)


def test_the_two_socket_a100_box_reaches_its_measured_plateau():
    """4 x A100-PCIe-40GB, every pair across sockets, NCCL over SHM (never fitted here): the
    64 and 128 MiB rows measure 5.38 and 5.20 GB/s; the model gives ~5.2. Read at the GeForce
    class's 3.1 they were 42-73 % slow."""
    got = km.validate(TABLE)
    big = got[(got.system == "PCIe-A100-40GB-x4-SYS-sm02") & (got.size_bytes >= 64 * 2 ** 20)]
    assert len(big) == 2
    assert big.error_pct.abs().max() < 5.0
    assert big.predicted_busbw.between(5.0, 5.2).all()


def test_a_name_two_presets_share_stands_for_them_where_they_agree():
    """'a100-pcie' is 40 or 80 GB, but both have the same link and host rate."""
    g = VC._gpu("a100-pcie")
    assert g is not None and g.host_staged_gbps == 5.2 and g.native_link == "pcie4_good"
    assert VC._gpu("h100") is not None and VC._gpu("no-such-gpu") is None
    assert VC._gpu("rtx") is None                  # 4090, 3090, PRO 6000 ... disagree
