"""ServingChart and WorkloadModel: live redraws in place, errors keep the last good state."""
import pytest
from traitlets import TraitError

from kernel_model.model_object import ScenarioModel
from kernel_model.serving.model_object import WorkloadModel
from nexora_widgets.serving import ServingChart
from nexora_widgets.testing import record_comms


def _chart(view="requests"):
    m = ScenarioModel(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="none")
    w = WorkloadModel(rate_rps=5, prompt_tokens=500, output_tokens=100, requests=200)
    return m, w, ServingChart(m, w, view=view)


def test_workload_model_validates_and_counts_changes():
    w = WorkloadModel()
    v = w.version
    w.rate_rps = 3.0
    assert w.version == v + 1 and w.workload().rate_rps == 3.0
    with pytest.raises(TraitError, match="rate_rps=-1"):
        w.rate_rps = -1
    assert w.rate_rps == 3.0 and "rate_rps=-1" in w.error
    with pytest.raises(TraitError, match="closest: chunked"):
        w.scheduler = "chunky"
    with pytest.raises(TraitError, match="tpot_p99_s"):
        w.tpot_slo_s = 0.0
    assert w.slo() == {"ttft_p90_s": 1.0, "tpot_p99_s": 0.05}
    assert w.serve_kwargs()["scheduler"] == "continuous"


def test_gantt_rows_follow_the_simulation():
    m, w, c = _chart()
    r = c.result.requests
    assert c.values["rows"] == 60
    assert c.values["queue"][:, 0].tolist() == r["arrival_s"].iloc[:60].tolist()
    assert c.values["decode"][:, 1].tolist() == r["finish_s"].iloc[:60].tolist()
    assert "Serving" in c.header.value and c.status.value == ""


def test_changes_redraw_in_place_without_new_figures():
    m, w, c = _chart()
    figs = (c.gantt, *c.latency, c.rate)
    marks = tuple(c.gantt.marks)
    before = c.result.summary["ttft_p90_s"]
    with record_comms() as log:
        w.rate_rps = 12.0
        m.batch = 4                           # a scenario change redraws too
    assert not log.opened()                   # no widget created: marks updated in place
    assert (c.gantt, *c.latency, c.rate) == figs and tuple(c.gantt.marks) == marks
    assert c.result.summary["ttft_p90_s"] != before
    assert c._inputs["rate_rps"].value == 12.0   # the control follows the model


def test_latency_and_rate_views():
    m, w, c = _chart("latency")
    assert c.cdf["ttft"][2].x.tolist() == [1.0, 1.0]      # SLO line at the limit
    w.ttft_slo_s = 0.5
    assert c.cdf["ttft"][2].x.tolist() == [0.5, 0.5]
    c.view_toggle.value = "rate"
    cap = c.values["capacity_rps"]
    assert cap > 0 and c.knee.x.tolist() == [cap, cap]
    assert c.panel_box.children == (c.panels["rate"],)          # only the shown view is in the page


def test_bad_control_value_keeps_the_last_good_state():
    m, w, c = _chart()
    good = c.result
    c._inputs["ttft_slo_s"].value = -3.0
    assert "ttft_p90_s" in c.status.value and w.ttft_slo_s == 1.0
    assert c._inputs["ttft_slo_s"].value == 1.0 and c.result is good


def test_engine_refusal_is_shown_not_raised():
    m, w, c = _chart()
    m.set(model="llama-2-70b", interconnect="nvlink", tp=2)   # 69 GB of weights per GPU
    good = c.result
    assert c.status.value == "" and good.summary["requests"] == 200
    w.kv_cache_fraction = 0.8                                 # 64 GB: no room for KV
    assert "could not draw" in c.status.value and "KV cache" in c.status.value
    assert c.result is good
    w.kv_cache_fraction = 0.9
    assert c.status.value == "" and c.result is not good


def test_inactive_chart_waits_until_shown():
    m = ScenarioModel(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="none")
    c = ServingChart(m, WorkloadModel(requests=50), active=False)
    assert c.result is None
    m.batch = 2
    assert c.result is None
    c.active = True
    assert c.result is not None and c.result.summary["requests"] == 50


def test_dashboard_has_a_serving_tab():
    from nexora_widgets import Dashboard
    d = Dashboard(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="none")
    tabs = d.children[1].children[1]
    assert tabs.titles == ("one request", "serving")
    assert tabs.children[1] is not d.serving        # not laid out while hidden (no size)
    assert d.serving.result is None
    tabs.selected_index = 1
    assert tabs.children[1] is d.serving
    assert d.serving.result is not None
