"""Collectives files name links as other tables do: hyphens and spaces, a PCIe link by
generation or none, a bare ``nvlink``, an interconnect preset (``xgmi`` on an MI300X box);
``rccl`` rows may run RCCL's own one/two-shot kernels; a multi-node row that does not say
its intra-node link gets the GPU's own."""
import os

import pandas as pd
import pytest

import kernel_model as km
from kernel_model import collectives as coll
from kernel_model import validate_collectives as VC
from kernel_model.hardware import COLLECTIVE_CONSTANTS
from kernel_model.simulate import link_params

DATA = os.path.join(os.path.dirname(km.__file__), "data", "collectives.csv")
C = COLLECTIVE_CONSTANTS["eager_call_s"]


@pytest.mark.parametrize("cell, gpu, link", [
    ("pcie4", "rtx-4090", "pcie4"), ("IB NDR", "h100-sxm", "ib_ndr"), ("ib-hdr", "a100", "ib_hdr"),
    ("PCIe Gen5", "rtx-pro-6000", "pcie5"), ("pcie 3.0", "t4", "pcie3"),
    ("pcie", "rtx-pro-6000", "pcie5"), ("pcie", "rtx-4090", "pcie4"), ("PCIe", "no-such-gpu", "pcie4"),
    ("NVLink", "h100-sxm", "nvlink4"), ("nvlink", "b200", "nvlink5"), ("nvlink", "a100", "nvlink3"),
    ("NVSwitch", "h100-sxm", "nvlink4"), ("nvswitch", "a100", "nvlink3"),
    ("xGMI", "mi300x", "infinity_fabric"), ("Infinity Fabric", "mi300x", "infinity_fabric"),
    ("nvlink_bridge", "h100-nvl", "nvlink_bridge"), ("pcie4_bad", "l40s", "pcie4_bad"),
    ("tcpxo", "h100-sxm", "tcpxo"),
    # a generation after NVLink, an InfiniBand by name or by the GPU's default, RoCE v2, and
    # plain Ethernet (NCCL's socket transport)
    ("NVLink 5", "b200", "nvlink5"), ("nvlink-4", "h100-sxm", "nvlink4"),
    ("NVLink3.0", "a100", "nvlink3"), ("InfiniBand NDR", "h100-sxm", "ib_ndr"),
    ("HDR InfiniBand", "a100", "ib_hdr"), ("InfiniBand", "a100", "ib_hdr"),
    ("IB", "h100-sxm", "ib_ndr"), ("RoCE v2", "h100-sxm", "roce"), ("RoCEv2", "gb10", "roce"),
    ("Ethernet", "l40s", "tcp"),
])
def test_link_cells_in_other_spellings(cell, gpu, link):
    assert VC.link_name(cell, gpu)[0] == link


def test_an_unknown_link_is_still_refused_with_the_closest():
    assert VC.link_name("infinty fabric", "mi300x") == (None, "")
    for cell in ("NVLink 6", "IB XDR", "sxm", "hccs"):
        assert VC.link_name(cell, "h100-sxm") == (None, "")
    df = pd.read_csv(DATA, dtype=str, keep_default_na=False).head(2)
    df.loc[1, "link"] = "infinty fabric"
    with pytest.raises(ValueError, match="closest: infinity_fabric"):
        VC.read_collectives(df, "f.csv")


def _rows(tmp_path, **cells):
    """The first shipped row with ``cells`` changed, validated."""
    df = pd.read_csv(DATA, dtype=str, keep_default_na=False).head(1)
    for k, v in cells.items():
        df[k] = v
    path = tmp_path / "c.csv"
    df.to_csv(path, index=False)
    return km.validate(str(path)).iloc[0]


def test_a_spelling_predicts_as_the_name_it_stands_for(tmp_path):
    base = dict(gpu="h100-sxm", num_gpus="8", nodes="1", gpus_per_node="8", p2p="yes",
                size_bytes="1073741824", notes="")
    named = _rows(tmp_path, link="nvlink4", **base)
    generic = _rows(tmp_path, link="NVLink", **base)
    assert generic.predicted_us == named.predicted_us and generic.preset == "nvlink4"
    assert "read as nvlink4" in generic.note


def test_an_mi300x_rccl_row_takes_the_fabric_and_rccls_own_kernels(tmp_path):
    """8 MI300X over xGMI: the infinity_fabric preset, and for ``rccl`` the fastest of NCCL's
    ring/tree and the one/two-shot kernels (RCCL's 1-shot / MSCCL all-reduce), by hand."""
    S = 8 * 2 ** 20
    row = _rows(tmp_path, gpu="mi300x", num_gpus="8", nodes="1", gpus_per_node="8", link="xGMI",
                p2p="yes", algorithm="rccl", size_bytes=str(S), time_us="91.1", notes="")
    assert row.preset == "infinity_fabric"
    ic = km.get_interconnect("infinity_fabric")
    L = link_params(None, ic, km.get_interconnect("ib_ndr"), "auto", 8, direct_max=float("inf"))
    assert row.predicted_us == pytest.approx(float(coll.allreduce(S, 8.0, L, C)) * 1e6, rel=1e-12)
    nccl_only = link_params(None, ic, km.get_interconnect("ib_ndr"), "auto", 8, direct_max=0.0)
    ring = float(coll.allreduce(S, 8.0, nccl_only, C)) * 1e6
    assert row.predicted_us < ring           # RCCL's two-shot beats its ring at 8 MiB
    K, lat = COLLECTIVE_CONSTANTS, ic.latency_s + km.DEFAULT_CALIBRATION.collective_step_s
    twoshot = (C * K["direct_call"] + 2 * lat + 2 * 7 / 8 * S / (ic.bw_gbps * 1e9 * K["direct_frac"]))
    assert row.predicted_us == pytest.approx(twoshot * 1e6, rel=1e-9)
    nccl = _rows(tmp_path, gpu="mi300x", num_gpus="8", nodes="1", gpus_per_node="8", link="xGMI",
                 p2p="yes", algorithm="nccl", size_bytes=str(S), time_us="91.1", notes="")
    assert nccl.predicted_us == pytest.approx(ring, rel=1e-12)


def test_a_multi_node_row_without_its_intra_node_link_takes_the_gpus_own(tmp_path):
    base = dict(gpu="h100-sxm", num_gpus="16", nodes="2", gpus_per_node="8", link="ib_ndr",
                p2p="yes", algorithm="nccl", size_bytes="1073741824", time_us="5000")
    stated = _rows(tmp_path, notes="intra-node link: nvlink4", **base)
    unstated = _rows(tmp_path, notes="", **base)
    assert unstated.preset == stated.preset == "nvlink4+ib_ndr"
    assert unstated.predicted_us == stated.predicted_us
    assert "intra-node link not stated: the GPU's own (nvlink4)" in unstated.note
    one_per_node = _rows(tmp_path, notes="", **dict(base, gpus_per_node="1", num_gpus="2"))
    assert one_per_node.preset == "ib_ndr"            # one GPU per node: the network alone


def test_the_mi300x_rccl_table_beside_the_benchmark_validates():
    """benchmarks/data/rccl-mi300x-x8.csv (a published rccl-tests table, docs/INTERCONNECTS.md)
    reads as it is written: xgmi links, rccl algorithm, 31 timed rows on one system; a file
    without PCIe rows says so instead of printing a NaN floor."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "benchmarks", "data", "rccl-mi300x-x8.csv")
    out = VC.validate_collectives(pd.read_csv(path), path)
    assert (out.status == "ok").all() and len(out) == 31 and set(out.preset) == {"infinity_fabric"}
    assert out.timed.all() and (out.predicted_us > 0).all()
    text = VC.report(out)
    assert "no PCIe small-message rows" in text and "nan" not in text
    assert "0 of 1 systems within 25 %" in text       # the documented miss (INTERCONNECTS.md)


@pytest.mark.parametrize("cell, name", [
    ("nccl", "nccl"), ("NCCL", "nccl"), ("", "nccl"), ("auto", "nccl"), ("default", "nccl"),
    ("Ring", "ring"), ("TREE", "tree"), ("NVLS", "nvls"), ("rccl", "rccl"),
    ("CollNet", "nccl"), ("NVLSTree", "nccl"), ("PAT", "nccl"),
    ("one-shot", "one-shot (oneshot)"), ("two_shot", "two_shot (twoshot)"),
    ("pcie_oneshot", "pcie_oneshot"), ("luke_custom_allreduce", "luke_custom_allreduce"),
])
def test_algorithm_cells_in_other_spellings(cell, name):
    """An empty, "auto" or "default" cell is NCCL's own choice, not a custom kernel's; so are
    NCCL algorithms the model does not tell apart (noted); a one-/two-shot kernel is told
    apart however it is spelt."""
    got, note = VC.algorithm_name(cell)
    assert got == name
    assert bool(note) == (cell.lower() in ("collnet", "nvlstree", "pat"))


def test_an_auto_algorithm_predicts_as_nccl(tmp_path):
    a = _rows(tmp_path, algorithm="nccl")
    for cell in ("auto", "", "CollNet"):
        b = _rows(tmp_path, algorithm=cell)
        assert b.predicted_us == a.predicted_us and b.algorithm == "nccl"
    assert VC.collective_name("all2all") == "all_to_all"
