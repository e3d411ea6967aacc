"""H800 and A800: the H100 / A100 chip and memory with 8 NVLinks; their link presets are the
full parts' fitted presets scaled by the link count, and rows naming the full part's link on
these GPUs read as the GPU's own."""
import os

import pandas as pd
import pytest

import kernel_model as km
from kernel_model import hardware as H
from kernel_model import validate_collectives as VC
from kernel_model.validate_links import link_for


@pytest.mark.parametrize("gpu, full, link, base, links, of", [
    ("h800-sxm", "h100-sxm", "nvlink4_h800", "nvlink4", 8, 18),
    ("a800-sxm-80gb", "a100-sxm-80gb", "nvlink3_a800", "nvlink", 8, 12),
])
def test_fewer_link_parts_are_the_full_part_with_scaled_links(gpu, full, link, base, links, of):
    g, f = km.get_gpu(gpu), km.get_gpu(full)
    assert (g.bf16_tflops, g.fp8_tflops, g.hbm_gbps, g.memory_gb, g.family) == \
        (f.bf16_tflops, f.fp8_tflops, f.hbm_gbps, f.memory_gb, f.family)
    assert g.native_link == link
    p, b = km.get_interconnect(link), km.get_interconnect(base)
    assert p.bw_gbps == round(b.bw_gbps * links / of, 1)
    assert p.latency_s == b.latency_s and p.in_switch == b.in_switch
    assert p.nvls_gbps == (round(b.nvls_gbps * links / of, 1) if b.nvls_gbps else None)
    assert H.TYPICAL_GPU[link] == gpu


def test_a_refit_of_the_base_carries_over(monkeypatch):
    import dataclasses
    monkeypatch.setitem(H.INTERCONNECTS, "nvlink4",
                        dataclasses.replace(H.INTERCONNECTS["nvlink4"], bw_gbps=360.0))
    H.derive_fewer_links()
    try:
        assert H.INTERCONNECTS["nvlink4_h800"].bw_gbps == 160.0      # 360 x 8/18
    finally:
        monkeypatch.undo()
        H.derive_fewer_links()
    assert H.INTERCONNECTS["nvlink4_h800"].bw_gbps == round(341 * 8 / 18, 1)


@pytest.mark.parametrize("spelling", ["h800", "H800", "NVIDIA H800 80GB HBM3", "H800 SXM5"])
def test_h800_spellings(spelling):
    assert km.get_gpu(spelling).name == "h800-sxm"


def test_fewer_links_make_tp8_communication_slower_never_faster():
    """Same chip and memory, less NVLink bandwidth: the same HBM and launch time, more
    communication, so the H800 is never faster than the H100 and at large batch it is slower."""
    for batch in (1, 64, 256):
        kw = dict(model="llama-3.1-70b", tp=8, batch=batch)
        h800 = km.simulate(km.Scenario(gpu="h800", interconnect="nvlink4_h800", **kw))
        h100 = km.simulate(km.Scenario(gpu="h100-sxm", interconnect="nvlink4", **kw))
        assert h800.breakdown["hbm"] == h100.breakdown["hbm"]
        assert h800.breakdown["communication"] >= h100.breakdown["communication"]
        assert h800.tpot_s >= h100.tpot_s
    assert h800.breakdown["communication"] > h100.breakdown["communication"]


@pytest.mark.parametrize("cell, gpu, preset", [
    ("nvlink4", "h800", "nvlink4_h800"), ("nvlink", "h800", "nvlink4_h800"),
    ("nvlink3", "a800", "nvlink3_a800"), ("nvlink", "a800", "nvlink3_a800"),
    ("nvlink4", "h100-sxm", "nvlink4"), ("nvlink4_h800", "h100-sxm", "nvlink4_h800"),
    ("NVSwitch", "h800", "nvlink4_h800"), ("nvswitch", "a100-sxm-80gb", "nvlink"),
])
def test_rows_naming_the_full_parts_link_read_as_the_gpus_own(cell, gpu, preset):
    assert link_for(cell, gpu, "")[0] == preset
    got = VC.link_name(cell, gpu)[0]
    assert VC.preset_for(got, "yes", "", 8, False)[0] == preset


def test_an_h800_measurement_row_is_simulated_on_its_own_link(tmp_path):
    path = os.path.join(os.path.dirname(km.__file__), "data", "measurements.csv")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    row = df[(df.interconnect == "nvlink") & (df.tp.astype(int) == 8)].head(1).copy()
    assert len(row) == 1
    row["gpu"], row["interconnect"] = "h800", "nvlink4"
    path = tmp_path / "h800.csv"
    row.to_csv(path, index=False)
    out = km.validate(str(path)).iloc[0]
    assert out.status == "ok" and out.interconnect == "nvlink4_h800"
    assert "8 NVLinks" in out.note
