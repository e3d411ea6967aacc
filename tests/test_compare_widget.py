"""The interconnect comparison (``Compare``): each preset against the engine, a followed
model, the current plan's own link added, preset names as a list or a comma string."""
from __future__ import annotations

import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("bqplot")

import kernel_model as km                                           # noqa: E402
from kernel_model.hardware import TYPICAL_GPU                       # noqa: E402
from kernel_model.model_object import ScenarioModel                 # noqa: E402
from nexora_widgets import Compare, palette                         # noqa: E402
from nexora_widgets.compare import DEFAULT_PRESETS                  # noqa: E402

BIG = dict(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4")
CATS = list(palette.CATEGORY)


def test_compare_matches_simulate_on_each_preset(comms):
    presets = ["pcie4_bad", "nvlink", "nvlink4", "nvlink5"]
    cmp = Compare(presets, tp=8, model="llama-2-70b")
    assert cmp.gpu_mode.value == "typical"
    assert list(cmp.bars.x) == presets
    for i, p in enumerate(presets):
        ref = km.simulate(model="llama-2-70b", tp=8, interconnect=p, gpu=TYPICAL_GPU[p])
        assert cmp.values["tpot_s"][i] == pytest.approx(ref.tpot_s, rel=1e-9)
        assert cmp.bars.y[CATS.index("communication"), i] == pytest.approx(ref.breakdown["communication"] * 1e3)
    assert "rtx-4090" in cmp.table.value
    cmp.gpu_mode.value = "same"
    ref = km.simulate(model="llama-2-70b", tp=8, interconnect="pcie4_bad", gpu=cmp.model.gpu)
    assert cmp.values["tpot_s"][0] == pytest.approx(ref.tpot_s, rel=1e-9)
    with pytest.raises(ValueError, match="pcie4_bad"):
        Compare(["pcie4_bda"])


def test_compare_follows_a_shared_model(comms):
    m = ScenarioModel(**BIG, tp=8)
    cmp = Compare(["pcie4_bad", "nvlink4"], m)
    assert cmp.gpu_mode.value == "same" and cmp.bars.opacities == [palette.MUTED_OPACITY, 1.0]
    m.batch = 32
    ref = km.simulate(km.Scenario(**{**BIG, "interconnect": "pcie4_bad"}, tp=8, batch=32))
    assert cmp.values["tpot_s"][0] == pytest.approx(ref.tpot_s, rel=1e-9)


def test_compare_adds_the_current_link_when_the_list_lacks_it(comms):
    """The dashboard's chart shows the current plan beside the others: an MI300X's fabric
    joins the default presets, last and highlighted; a preset already listed is not doubled."""
    m = ScenarioModel(model="llama-2-70b", gpu="mi300x", interconnect="infinity_fabric", tp=8)
    cmp = Compare(model=m)
    assert list(cmp.bars.x) == list(DEFAULT_PRESETS) + ["infinity_fabric"]
    assert cmp.bars.opacities[-1] == 1.0 and set(cmp.bars.opacities[:-1]) == {palette.MUTED_OPACITY}
    assert cmp.values["tpot_s"][-1] == pytest.approx(m.result.tpot_s, rel=1e-12)
    m.interconnect = "nvlink4"
    assert list(cmp.bars.x) == list(DEFAULT_PRESETS)


def test_compare_takes_one_preset_name_or_a_comma_list_not_letters(comms):
    assert Compare("nvlink", tp=8).presets == ["nvlink"]
    assert Compare("pcie4_bad, nvlink4", tp=4).presets == ["pcie4_bad", "nvlink4"]
    with pytest.raises(ValueError, match="nvlink4"):
        Compare("nvlnk4")
