"""Widgets without a browser: move a control, check the model and the marks' data against
the engine; invalid input keeps the last good state and shows the message."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("bqplot")

import kernel_model as km                                           # noqa: E402
from kernel_model.model_object import ScenarioModel                 # noqa: E402
from nexora_widgets import (BreakdownChart, Compare, Controls, Dashboard, MemoryChart,  # noqa: E402
                            MetricCards, ScalingChart, TimelineChart, palette)
from nexora_widgets import timeline as timeline_mod                 # noqa: E402
from nexora_widgets._util import fmt_bytes, fmt_flops, fmt_time     # noqa: E402

BIG = dict(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4")
CATS = list(palette.CATEGORY)
BOUNDS = list(palette.BOUND)


def decode_rows(res, stream=None):
    tl = res.timeline
    tl = tl[tl.phase == "decode"]
    return tl if stream is None else tl[tl.stream == stream]


def curve_segments(chart, key):
    """(start, end) in ms of the bars (filled rectangles) drawn in the curve of ``key``."""
    row = BOUNDS.index(key)
    x, y = np.asarray(chart.bars.x[row], float), np.asarray(chart.bars.y[row], float)
    n = len(x) // 5
    starts = np.flatnonzero(np.isfinite(y[0:5 * n:5]) & (y[0:5 * n:5] >= chart.ys.min))
    return x[0:5 * n:5][starts], x[1:5 * n:5][starts]


# ---- controls ---------------------------------------------------------------------------
def test_moving_the_tp_slider_changes_model_result_and_every_chart(comms):
    d = Dashboard(**BIG, tp=1, weight_bits=8)
    m = d.model
    assert d.timeline.bars.x.size and len(curve_segments(d.timeline, "comm")[0]) == 0
    assert d.breakdown.bars_dec.y[CATS.index("communication"), 0] == 0.0
    d.controls.widgets["tp"].value = 8
    assert m.tp == 8
    ref = km.simulate(km.Scenario(**BIG, tp=8, weight_bits=8))
    assert m.result.tpot_s == pytest.approx(ref.tpot_s, rel=1e-12)
    # timeline: one red segment per collective of the decode step, where the engine puts it
    comm = decode_rows(ref, "comm")
    s, e = curve_segments(d.timeline, "comm")
    assert len(s) == len(comm) > 0
    np.testing.assert_allclose(np.sort(s), np.sort(comm.start_s.to_numpy() * 1e3), rtol=1e-9)
    np.testing.assert_allclose(np.sort(e), np.sort(comm.end_s.to_numpy() * 1e3), rtol=1e-9)
    # breakdown bars in ms, communication grew from zero
    np.testing.assert_allclose(d.breakdown.bars_dec.y[:, 0], [ref.breakdown[c] * 1e3 for c in CATS])
    np.testing.assert_allclose(d.breakdown.bars_pre.y[:, 0], [ref.ttft_breakdown[c] * 1e3 for c in CATS])
    assert d.breakdown.bars_dec.y[CATS.index("communication"), 0] > 0
    # memory bar: per-GPU weights shrink about 8x with tp=8
    w1 = km.simulate(km.Scenario(**BIG, tp=1, weight_bits=8)).memory["weights"]
    assert d.memory.bars.y[0, 0] == pytest.approx(ref.memory["weights"] / 1e9)
    assert d.memory.bars.y[0, 0] < w1 / 1e9 / 4


def test_timeline_draws_every_kernel_once_with_its_bound_color(comms):
    t = TimelineChart(**BIG, tp=8)
    rows = decode_rows(t.model.result)
    total = 0
    for key in BOUNDS:
        s, e = curve_segments(t, key)
        sel = rows[rows.bound == key]
        assert len(s) == len(sel)
        assert np.sum(e - s) == pytest.approx(sel.duration_s.sum() * 1e3, rel=1e-9)
        total += len(s)
    assert total == len(rows)
    assert t.bars.colors == [palette.CATEGORY[palette.BOUND[k]] for k in BOUNDS]
    assert len(t.hover.x) == len(rows) and len(t.hover.names) == len(rows)
    tip = t.hover.names[int(np.argmax(rows.duration_s.to_numpy()))]
    top = rows.iloc[int(np.argmax(rows.duration_s.to_numpy()))]
    assert top["name"] in tip and f"{top.duration_s * 1e6:.1f} µs" in tip
    # x axis spans the step
    assert t.xs.min == 0.0 and t.xs.max >= rows.end_s.max() * 1e3
    # prefill is selectable and draws the prefill rows
    t.phase.value = "prefill"
    tl = t.model.result.timeline
    assert len(t.hover.x) == int((tl.phase == "prefill").sum())
    assert t.ax_x.label == "time since the prefill started (ms)" and "TTFT" in t.header.value
    # first layer zooms onto layer 0
    t.phase.value = "decode"
    t.span.value = "layer"
    l0 = rows[(rows.layer == 0) & (rows.stage == 0) & (rows.micro_batch == 0)]
    assert t.xs.min <= l0.start_s.min() * 1e3 and t.xs.max >= l0.end_s.max() * 1e3
    assert t.xs.max - t.xs.min < 0.2 * rows.end_s.max() * 1e3


def test_pipeline_lanes_and_micro_batch_staircase(comms):
    t = TimelineChart(**BIG, tp=2, pp=4, batch=8, micro_batches=4)
    assert len(t.ax_y.tick_values) == 8 and "stage 3 compute" in t.ax_y.tick_labels.values()
    rows = decode_rows(t.model.result)
    assert len(t.mb_labels.text) == 4 * 4                    # one label per (stage, micro-batch)
    # staircase: micro-batch 0 starts later on each later stage
    starts = [rows[(rows.stage == s) & (rows.micro_batch == 0)].start_s.min() for s in range(4)]
    assert all(a < b for a, b in zip(starts, starts[1:]))
    x0 = {}
    for x, y, txt in zip(t.mb_labels.x, t.mb_labels.y, t.mb_labels.text):
        if txt == "mb 0":
            x0[round(float(y))] = x
    assert sorted(x0.values()) == pytest.approx(sorted(np.array(starts) * 1e3))


def test_controls_offer_only_valid_values_and_adapt_dependent_fields(comms):
    c = Controls(**BIG, tp=8)
    tp = c.widgets["tp"]
    assert list(tp.options) == c.model.allowed("tp")
    assert c.widgets["ep"].disabled                          # dense model: ep is 1
    c.widgets["model"].value = "qwen2.5-7b"                  # 28 heads / 4 KV heads
    assert c.model.model == "qwen2.5-7b" and c.model.tp == 4
    assert list(tp.options) == c.model.allowed("tp") and 8 not in tp.options
    assert tp.value == 4 and "tp 8 -&gt; 4" in c.message.value
    c.widgets["model"].value = "mixtral-8x7b"
    assert not c.widgets["ep"].disabled and 8 in c.widgets["ep"].options
    c.widgets["ep"].value = 8
    assert c.model.result.scenario.ep == 8


def test_invalid_input_keeps_last_good_state_and_shows_the_message(comms):
    d = Dashboard(**BIG, tp=8)
    good = d.model.result
    bars_before = d.timeline.bars.x.copy()
    link = d.controls.widgets["interconnect"]
    link.options = ("none", *link.options)                   # a value the UI does not offer
    link.value = "none"                                      # one GPU only; the plan has 8
    assert d.model.interconnect == "nvlink4" and d.model.result is good
    assert d.controls.widgets["interconnect"].value == "nvlink4"      # control put back
    assert "interconnect=&#x27;none&#x27;" in d.controls.message.value
    assert "kept the last valid scenario" in d.controls.message.value
    assert d.model.error.startswith("interconnect='none'")
    np.testing.assert_array_equal(d.timeline.bars.x, bars_before)
    # a value the slider would never offer, forced in: refused the same way
    tp = d.controls.widgets["tp"]
    tp.options = (3, *tp.options)
    tp.value = 3
    assert d.model.tp == 8 and tp.value == 8 and "tp=3" in d.controls.message.value
    # the next good change clears the message
    d.controls.widgets["batch"].value = 4
    assert d.controls.message.value == "" and d.model.result.scenario.batch == 4


def test_model_changes_reach_the_controls(comms):
    c = Controls(**BIG, tp=8)
    c.model.set(batch=16, prompt_tokens=1024, overlap=0.5)
    assert (c.widgets["batch"].value, c.widgets["prompt_tokens"].value, c.widgets["overlap"].value) == (16, 1024, 0.5)
    c.model.batch = 3                                       # not a slider stop: offered anyway
    assert c.widgets["batch"].value == 3


def test_runtime_dropdown_drives_the_breakdown(comms):
    d = Dashboard(**BIG, tp=8)
    w = d.controls.widgets["runtime"]
    assert list(w.options) == km.list_runtimes() and w.value == "compiled"
    before = d.model.result.breakdown["launch_overhead"]
    w.value = "eager_server"
    res = d.model.result
    assert d.model.runtime == "eager_server"
    assert res.breakdown["launch_overhead"] == pytest.approx(
        before + km.DEFAULT_CALIBRATION.eager_server_step_s)
    host_ms = km.DEFAULT_CALIBRATION.eager_server_step_s * 1e3
    assert f"{host_ms:.2f} ms of host time (eager_server runtime)" in d.timeline.header.value
    ref = km.simulate(**BIG, tp=8, runtime="eager_server")
    assert np.sum(d.breakdown.bars_dec.y) == pytest.approx(ref.tpot_s * 1e3, rel=1e-9)
    assert np.sum(d.breakdown.bars_pre.y) == pytest.approx(ref.ttft_s * 1e3, rel=1e-9)


def test_a_llamacpp_tensor_split_says_it_runs_without_graphs(comms):
    """llama.cpp cannot capture split weights in a CUDA graph: at TP 2 the card's warnings say
    the plan runs as llamacpp-eager, at TP 1 they do not."""
    d = Dashboard(model="llama-2-70b", gpu="rtx-4090", interconnect="pcie4_bad",
                  weight_format="q4_k_m", tp=4)
    d.controls.widgets["runtime"].value = "llamacpp"
    assert d.model.runtime == "llamacpp"
    assert "runs as llamacpp-eager here" in d.cards.warnings.value
    ref = km.simulate(model="llama-2-70b", gpu="rtx-4090", interconnect="pcie4_bad",
                      weight_format="q4_k_m", tp=4, runtime="llamacpp-eager")
    assert d.model.result.tpot_s == pytest.approx(ref.tpot_s, rel=1e-12)
    d.model.set(tp=1, pp=4)
    assert d.model.tp == 1 and "llamacpp-eager" not in d.cards.warnings.value


# ---- charts -----------------------------------------------------------------------------
def test_scaling_chart_matches_simulate_at_each_tp_and_highlights_the_plan(comms):
    s = ScalingChart(**BIG, tp=4)
    assert list(s.bars.x) == ["TP 1", "TP 2", "TP 4", "TP 8"]
    for i, t in enumerate((1, 2, 4, 8)):
        ref = km.simulate(km.Scenario(**BIG, tp=t))
        assert s.bars.y[:, i].sum() == pytest.approx(ref.tpot_s * 1e3, rel=1e-9)
        assert s.tps_line.y[i] == pytest.approx(ref.output_tokens_per_s, rel=1e-9)
    assert s.bars.opacities == [palette.MUTED_OPACITY, palette.MUTED_OPACITY, 1.0, palette.MUTED_OPACITY]
    assert list(s.notes.text)[2] == "current" and list(s.notes.text)[0] == "no fit"
    s.model.tp = 16                                            # the current plan is added
    assert list(s.bars.x) == ["TP 1", "TP 2", "TP 4", "TP 8", "TP 16"] and s.bars.opacities[-1] == 1.0
    s.model.set(model="qwen2.5-7b", tp=4)                      # tp=8 is not valid for it
    assert list(s.bars.x) == ["TP 1", "TP 2", "TP 4"]


def test_memory_chart_against_capacity(comms):
    mc = MemoryChart(**BIG, tp=8)
    res = mc.model.result
    np.testing.assert_allclose(mc.bars.y[:3, 0], [res.memory[k] / 1e9 for k in ("weights", "kv_cache", "activations")])
    assert mc.bars.y[3, 0] == pytest.approx((res.memory["capacity"] - res.memory["total"]) / 1e9)
    assert list(mc.cap.x) == pytest.approx([res.memory["capacity"] / 1e9] * 2)
    mc.model.tp = 1                                            # 140 GB of weights on an 80 GB GPU
    assert not mc.model.result.fits
    assert mc.cap.colors == [palette.ERROR] and "does not fit" in mc.header.value
    assert mc.bars.y[3, 0] == 0.0 and mc.ys.max >= mc.model.result.memory["total"] / 1e9


def test_metric_cards_show_the_result(comms):
    cards = MetricCards(**BIG, tp=8)
    res = cards.model.result
    assert f"{res.tpot_s * 1e3:.2f} ms" in cards.tpot.value
    assert f"{res.ttft_s * 1e3:.2f} ms" in cards.ttft.value
    assert res.bottleneck in cards.badge.value and palette.BOTTLENECK[res.bottleneck] in cards.badge.value
    cards.model.tp = 1
    assert "does not fit" in cards.mem.value and "does not fit" in cards.warnings.value


# ---- in place, batched, never raising ----------------------------------------------------
def test_updates_are_in_place_and_one_message_per_mark(comms):
    d = Dashboard(**BIG, tp=8)
    figs = [d.timeline.fig, d.breakdown.fig_dec, d.memory.fig, d.scaling.fig, d.compare.fig]
    marks = [d.timeline.bars, d.timeline.hover, d.breakdown.bars_dec, d.memory.bars, d.scaling.bars, d.compare.bars]
    ids = [f.model_id for f in figs]
    n_open = len(comms.opened())
    before = {id(mk): len(comms.of(mk)) for mk in marks}
    d.controls.widgets["tp"].value = 4
    assert len(comms.opened()) == n_open                    # no widget created: nothing rebuilt
    assert [f.model_id for f in figs] == ids and d.timeline.fig.marks[0] is d.timeline.bars
    for mk in marks:
        assert len(comms.of(mk)) - before[id(mk)] == 1, type(mk).__name__   # hold_sync: one message


def test_a_view_that_fails_to_draw_shows_why_instead_of_raising(comms, monkeypatch):
    t = TimelineChart(**BIG, tp=8)

    def boom(*a, **k):
        raise RuntimeError("segment trouble")
    monkeypatch.setattr(timeline_mod, "segments", boom)
    t.model.tp = 4                                          # no exception escapes
    assert "segment trouble" in t.status.value
    monkeypatch.undo()
    t.model.tp = 8
    assert t.status.value == ""


def test_views_share_one_model(comms):
    m = ScenarioModel(**BIG, tp=8)
    views = [TimelineChart(m), BreakdownChart(m), ScalingChart(m), MemoryChart(m), MetricCards(m)]
    assert all(v.model is m for v in views)
    m.interconnect = "pcie4_bad"
    ref = km.simulate(km.Scenario(**{**BIG, "interconnect": "pcie4_bad"}, tp=8))
    assert views[1].bars_dec.y[:, 0].sum() == pytest.approx(ref.tpot_s * 1e3)
    assert f"{ref.tpot_s * 1e3:.2f} ms" in views[4].tpot.value


def test_timeline_chart_draws_a_training_iteration():
    tres = km.simulate_training("gpt-22b", gpu="a100-sxm-80gb", tp=8, pp=4, dp=1, seq_len=2048,
                                global_batch=8, micro_batch=1)
    chart = TimelineChart(tres)
    assert chart.status.value == ""
    tl = tres.timeline
    # one rectangle (start, end, end, start, NaN) per timeline row, grouped by phase
    y = np.asarray(chart.bars.y, dtype=float)
    drawn = int((np.isfinite(y[:, 0::5]) & (y[:, 0::5] >= chart.ys.min)).sum())
    assert drawn == len(tl)
    assert list(chart.bars.labels) == [p for p in ("forward", "backward", "recompute", "p2p",
                                                   "dp_communication", "optimizer")
                                       if (tl.phase == p).any()]
    assert len(chart.ax_y.tick_values) == 2 * 4                    # compute + comm lane per stage
    assert chart.xs.max == pytest.approx(1.01 * tl.end_s.max())
    assert "8 micro-batches x 4 stage" in chart.header.value


def test_units_are_formatted_with_decimal_prefixes():
    assert (fmt_time(2.5), fmt_time(0.01165), fmt_time(850e-6)) == ("2.50 s", "11.65 ms", "850.0 µs")
    assert (fmt_bytes(1.5e9), fmt_bytes(640e3), fmt_bytes(12)) == ("1.5 GB", "640 kB", "12 B")
    assert fmt_bytes(2e12) == "2 TB"
    assert (fmt_flops(2.1e12), fmt_flops(3.4e8), fmt_flops(12)) == ("2.1 TFLOP", "340 MFLOP", "12 FLOP")


def test_lane_ticks_name_each_stage_only_when_there_are_several():
    assert timeline_mod.lane_ticks(1) == {"1": "compute", "0": "comm"}
    ticks = timeline_mod.lane_ticks(3)
    assert ticks["5"] == "stage 0 compute" and ticks["4"] == "stage 0 comm" and ticks["0"] == "stage 2 comm"
    assert len(ticks) == 6


# ---- issue 12 item 22: no NaN last point, invisible hover marks ----------------------------
@pytest.mark.parametrize("pp", [1, 3])
def test_every_timeline_curve_ends_on_a_defined_point(comms, pp):
    """bqplot puts a curve's (hidden) label at its last point: a NaN there wrote
    translate(x, undefined) into the page; a curve without bars wrote d="null"."""
    t = TimelineChart(model="llama-2-13b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=2,
                      pp=pp, batch=4, micro_batches=min(pp, 4))
    for phase in ("decode", "prefill"):
        t.phase.value = phase
        x, y = np.asarray(t.bars.x, dtype=float), np.asarray(t.bars.y, dtype=float)
        assert np.isfinite(x).all() and (y[:, -1] == -1.0).all()      # last point defined,
        assert (y[:, -1] < t.ys.min).all()                            # below the lanes
    # a key without bars draws nothing inside the lanes
    rows = decode_rows(t.model.result)
    t.phase.value = "decode"
    for k, row in zip(BOUNDS, np.asarray(t.bars.y, dtype=float)):
        if not (rows.bound == k).any():
            assert np.nanmax(row) < t.ys.min


def test_hover_marks_are_transparent_whatever_their_opacity(comms):
    t = TimelineChart(**BIG, tp=2, pp=2, batch=4, micro_batches=2)
    assert list(t.hover.colors) == [palette.TRANSPARENT] and list(t.hover.opacities) == [0.0]
    assert t.hover.stroke == palette.TRANSPARENT


def _lab(hex_color, alpha=1.0):
    """CIE L*a*b* (D65) of ``hex_color`` drawn at ``alpha`` over white."""
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    c = (alpha * rgb + (1 - alpha) * 255.0) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ c / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_faded_category_colors_stay_apart():
    """Muted (other plans') bars of every pair of causes differ clearly (CIE76 ΔE >= 15):
    launch overhead #9D755D and pipeline bubble #BAB0AC were 11 apart when faded."""
    assert np.linalg.norm(_lab("#9D755D", palette.MUTED_OPACITY) - _lab("#BAB0AC", palette.MUTED_OPACITY)) < 12
    cols = list(palette.CATEGORY.values())
    for i in range(len(cols)):
        for j in range(i + 1, len(cols)):
            for alpha in (1.0, palette.MUTED_OPACITY):
                d = np.linalg.norm(_lab(cols[i], alpha) - _lab(cols[j], alpha))
                assert d >= 15, (cols[i], cols[j], alpha, d)


# ---- issue 12 item 6: bounded timelines ---------------------------------------------------
def test_huge_micro_batch_counts_give_a_bounded_timeline_quickly():
    import time
    t0 = time.perf_counter()
    res = km.simulate(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8, pp=8,
                      batch=100_000, micro_batches=100_000)
    tl = res.timeline
    assert time.perf_counter() - t0 < 3.0
    assert len(tl) < 40_000
    K = km.timeline.DRAWN_MICRO_BATCHES
    assert tl.attrs["aggregated"] == (K, 99_999)
    dec = tl[tl.phase == "decode"]
    assert dec.micro_batch.max() == K                       # micro-batch K stands for K..m-1
    assert set(dec[dec.kind == "aggregate"].stage) == set(range(8))
    assert dec.end_s.max() == pytest.approx(res.tpot_s - res.host_s, rel=1e-12)


def test_aggregated_blocks_carry_the_work_and_end_where_the_staircase_ends(monkeypatch):
    """Closed form against the kernel-by-kernel staircase: with everything drawn, stage s ends
    its last micro-batch where the aggregated block ends, and the block holds the FLOPs and
    bytes of the micro-batches it stands for."""
    from kernel_model import timeline as engine_tl
    kw = dict(model="llama-2-13b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=2, pp=4,
              batch=16, micro_batches=13)
    agg = km.simulate(**kw).timeline
    monkeypatch.setattr(engine_tl, "DRAWN_MICRO_BATCHES", 1000)
    full = km.simulate(**kw).timeline
    assert full.attrs["aggregated"] is None and agg.attrs["aggregated"] == (8, 12)
    pa, pf = agg[agg.phase == "prefill"], full[full.phase == "prefill"]
    for s in range(4):
        a, f = pa[pa.stage == s], pf[pf.stage == s]
        assert a.end_s.max() == pytest.approx(f.end_s.max(), rel=1e-12)
        block = a[a.kind == "aggregate"]
        later = f[(f.micro_batch >= 8) & (f.stream == "compute")]
        assert len(block) == 1
        assert block.flops.iloc[0] == pytest.approx(later.flops.sum(), rel=1e-12)
        assert block.bytes.iloc[0] == pytest.approx(later.bytes.sum(), rel=1e-12)
        assert block.start_s.iloc[0] == pytest.approx(later.start_s.min(), rel=1e-12)


def test_dashboard_at_ten_thousand_micro_batches_answers_and_says_it_aggregates(comms):
    import time
    t0 = time.perf_counter()
    d = Dashboard(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8, pp=8,
                  batch=10_000, micro_batches=10_000)
    assert time.perf_counter() - t0 < 5.0
    assert "drawn as one block per stage" in d.timeline.header.value
    assert "8–9999" in d.timeline.header.value
    t0 = time.perf_counter()
    d.model.batch = 10_001
    assert time.perf_counter() - t0 < 2.0
    assert any(str(x).startswith("mb 8–") for x in d.timeline.mb_labels.text)


def test_micro_batches_above_the_timeline_bound_are_refused_by_name(monkeypatch):
    from kernel_model import timeline as engine_tl
    monkeypatch.setattr(engine_tl, "MAX_MICRO_BATCHES", 100)
    res = km.simulate(model="llama-2-7b", batch=200, micro_batches=200)
    with pytest.raises(ValueError, match=r"micro_batches=200 .* at most 100"):
        res.timeline


# ---- issue 13 item 5: the dashboard does the work once -------------------------------------
def _counting(monkeypatch):
    import sys
    sim = sys.modules["kernel_model.simulate"]
    calls = {"evaluate": 0, "rows": 0}
    ev, cols = sim.evaluate, timeline_mod._columns

    def evaluate(P):
        calls["evaluate"] += 1
        return ev(P)

    def columns(res, phase):
        calls["rows"] += 1
        return cols(res, phase)
    monkeypatch.setattr(sim, "evaluate", evaluate)
    monkeypatch.setattr(timeline_mod, "_columns", columns)
    return calls


def test_one_change_runs_one_stacked_evaluation_shared_by_every_chart(comms, monkeypatch):
    from nexora_widgets import RooflineChart
    d = Dashboard(**BIG, tp=8)
    extra = [TimelineChart(d.model, css=False), RooflineChart(d.model, css=False)]
    calls = _counting(monkeypatch)
    d.model.batch = 4
    # ONE stacked evaluate: the result and the scaling and compare plans together;
    # the roofline reads the result's evaluation, the second timeline reuses the rows
    assert calls == {"evaluate": 1, "rows": 1}
    ref = km.simulate(**BIG, tp=8, batch=4)
    assert d.scaling.values["tpot_s"][d.scaling.values["labels"].index("TP 8")] == pytest.approx(ref.tpot_s)
    assert d.compare.values["tpot_s"][d.compare.values["presets"].index("nvlink4")] == pytest.approx(ref.tpot_s)
    assert np.array_equal(extra[0].hover.names, d.timeline.hover.names)
    # the compare toggle re-evaluates only its own plans
    calls["evaluate"] = 0
    d.compare.gpu_mode.value = "typical"
    assert calls["evaluate"] == 1
    assert "GPU" in d.compare.table.value


def test_roofline_points_come_from_the_result_without_evaluating(monkeypatch):
    from nexora_widgets.roofline import kernel_points
    res = km.simulate(**BIG, tp=8)
    calls = _counting(monkeypatch)
    pts = kernel_points(res)
    assert calls["evaluate"] == 0
    g = res.timeline
    row = g[(g.phase == "decode") & (g.name == "qkv_proj")].iloc[0]
    i = pts["decode"]["name"].index("qkv_proj")
    assert pts["decode"]["intensity"][i] == pytest.approx(row.flops / row.bytes)
    assert pts["decode"]["tflops"][i] == pytest.approx(row.flops / row.duration_s / 1e12)


# ---- issue 12 item 26: what a lecturer reads ------------------------------------------------

def test_breakdown_explains_a_decode_step_without_compute(comms):
    m = ScenarioModel(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="none", batch=1)
    chart = BreakdownChart(m)
    assert m.result.breakdown["compute"] == 0.0
    assert "memory-bound" in chart.table.value and "nx-compute-note" in chart.table.value
    m.batch = 512                                          # compute-bound: no note
    assert m.result.breakdown["compute"] > 0
    assert "nx-compute-note" not in chart.table.value


def test_insight_sentences_start_with_a_capital_letter():
    for kw in (dict(tp=8, model="llama-2-70b"), dict(batch=512), dict(pp=4, batch=8),
               dict(interconnect="pcie4_bad", tp=4, batch=32)):
        text = km.simulate(gpu="a100-sxm-80gb", **kw).insight
        assert text[:1].isupper(), text


def test_kernel_tips_join_each_head_with_its_formatted_tail():
    tips = timeline_mod.kernel_tips(
        np.array(["qkv_proj", "qkv_proj", "embedding", "block", "allreduce"]),
        np.array([0, 11, -1, 0, 3]),
        np.array([1e-5, 1e-5, 1.6e-5, 2e-3, 2.5e-6]), np.array([2e9, 2e9, 0.0, 1e12, 0.0]),
        np.array([3e6, 3e6, 65.5e3, 1e9, 12.0]),
        np.array(["memory", "memory", "memory", "compute", "comm"]),
        np.array(["gemm", "gemm", "elementwise", "aggregate", "comm"]), (8, 255))
    assert tips.tolist() == [
        "qkv_proj (layer 0) · 10.0 µs · 2 GFLOP · 3 MB · HBM-bound",
        "qkv_proj (layer 11) · 10.0 µs · 2 GFLOP · 3 MB · HBM-bound",
        "embedding · 16.0 µs · 0 FLOP · 65.5 kB · HBM-bound",
        "micro-batches 8–255, one block (mostly compute-bound) · 2.000 ms · 1 TFLOP · 1 GB",
        "allreduce (layer 3) · 2.5 µs · 0 FLOP · 12 B · communication"]
    assert tips.dtype == np.dtype(f"<U{max(len(t) for t in tips)}")
    assert timeline_mod.kernel_tips(*[np.array([])] * 6).tolist() == []


def test_a_chart_added_after_the_change_joins_the_next_stacked_evaluation(comms, monkeypatch):
    d = Dashboard(**BIG, tp=8)
    late = Compare(model=d.model, css=False)                   # evaluated alone when built
    calls = _counting(monkeypatch)
    d.model.batch = 3
    assert calls["evaluate"] == 1                              # then in the model's one evaluation
    assert late.values["tpot_s"].tolist() == d.compare.values["tpot_s"].tolist()
    ref = km.simulate(**dict(BIG, tp=8, batch=3, interconnect="pcie4_bad"))
    assert late.values["tpot_s"][late.values["presets"].index("pcie4_bad")] == pytest.approx(ref.tpot_s, rel=1e-12)
