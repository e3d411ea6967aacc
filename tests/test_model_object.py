"""ScenarioModel: traits mirror Scenario, validation by the engine, one recompute per change."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from traitlets import TraitError

import kernel_model as km
from kernel_model.model_object import FIELDS, ScenarioModel, adapt_changes, adapt_scenario

BIG = dict(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8)


def results(m):
    seen = []
    m.observe(lambda ch: seen.append(ch.new), "result")
    return seen


def test_one_trait_per_scenario_field_with_the_same_defaults():
    m = ScenarioModel()
    assert set(FIELDS) == set(km.Scenario.field_names())
    assert all(m.has_trait(f) for f in FIELDS)
    assert m.to_scenario() == km.Scenario()


def test_result_is_simulate_of_the_scenario():
    m = ScenarioModel(**BIG)
    ref = km.simulate(km.Scenario(**BIG))
    assert m.result.scenario == ref.scenario
    assert m.result.tpot_s == pytest.approx(ref.tpot_s, rel=1e-12)
    assert m.result.ttft_s == pytest.approx(ref.ttft_s, rel=1e-12)
    assert m.result.breakdown == pytest.approx(ref.breakdown, rel=1e-12)


def test_result_is_read_only():
    m = ScenarioModel()
    with pytest.raises(TraitError):
        m.result = km.simulate(km.Scenario())


def test_each_change_recomputes_once_and_batches_recompute_once():
    m = ScenarioModel(**BIG)
    seen = results(m)
    m.batch = 4
    assert len(seen) == 1 and seen[-1].scenario.batch == 4
    assert seen[-1].tpot_s == pytest.approx(km.simulate(km.Scenario(**BIG, batch=4)).tpot_s)
    with m.hold_trait_notifications():
        m.batch, m.prompt_tokens, m.interconnect = 8, 512, "pcie4_bad"
    assert len(seen) == 2
    sc = seen[-1].scenario
    assert (sc.batch, sc.prompt_tokens, sc.interconnect) == (8, 512, "pcie4_bad")
    m.set(batch=1, overlap=0.5)
    assert len(seen) == 3 and m.result.scenario.overlap == 0.5
    m.batch = 1                                      # no change: no recomputation
    assert len(seen) == 3


def test_invalid_value_raises_names_field_and_keeps_last_good_state():
    m = ScenarioModel(**BIG)
    good = m.result
    seen = results(m)
    with pytest.raises(TraitError) as e:
        m.tp = 3
    msg = str(e.value)
    assert "tp=3" in msg and "64" in msg and "allowed" in msg
    assert m.tp == 8 and m.result is good and seen == []
    assert m.error == msg
    m.batch = 2                                      # a good change clears the message
    assert m.error == "" and m.result.scenario.batch == 2


def test_unknown_model_names_the_closest_presets():
    m = ScenarioModel()
    with pytest.raises(TraitError) as e:
        m.model = "llama-2-71b"
    assert "model='llama-2-71b'" in str(e.value) and "llama-2-70b" in str(e.value)
    assert m.model == "llama-2-7b"


def test_invalid_batch_rolls_back_every_change():
    m = ScenarioModel(**BIG)
    good = m.result
    with pytest.raises(TraitError):
        with m.hold_trait_notifications():
            m.batch = 16
            m.tp = 3
    assert (m.batch, m.tp) == (1, 8) and m.result is good
    with pytest.raises(TraitError):
        m.set(batch=16, tp=3)
    assert (m.batch, m.tp) == (1, 8) and "tp=3" in m.error


def test_changes_that_are_only_valid_together_go_through_set():
    m = ScenarioModel(**BIG)                         # tp=8 does not fit qwen2.5-7b's 4 KV heads
    with pytest.raises(TraitError):
        m.model = "qwen2.5-7b"
    m.set(model="qwen2.5-7b", tp=4)
    assert (m.result.scenario.model, m.result.scenario.tp) == ("qwen2.5-7b", 4)


def test_adapt_moves_dependent_fields_to_the_nearest_valid_value():
    m = ScenarioModel(**BIG)
    notes = m.set(adapt=True, model="qwen2.5-7b")
    spec = km.get_model("qwen2.5-7b")
    valid = [t for t in range(1, 9) if spec.heads % t == 0 and (spec.kv_heads % t == 0 or t % spec.kv_heads == 0)]
    assert m.tp == max(valid) and len(notes) == 1 and "tp 8 ->" in notes[0]
    # requested fields are never altered: an impossible request is refused
    with pytest.raises(TraitError):
        m.set(adapt=True, tp=3)
    assert m.tp == max(valid)
    # micro-batches follow the batch down; ep drops to 1 on a dense model
    m.set(model="mixtral-8x7b", tp=2, ep=8, batch=8, micro_batches=8, pp=2)
    notes = m.set(adapt=True, batch=2, model="llama-2-7b")
    assert (m.micro_batches, m.ep, m.batch) == (2, 1, 2) and len(notes) == 2


def test_adapt_changes_is_pure_and_validates():
    cur = km.Scenario(**BIG).to_dict()
    out, notes = adapt_changes(cur, {"interconnect": "pcie4_bad"})
    assert out == {"interconnect": "pcie4_bad"} and notes == []
    cur["algorithm"] = "in_switch"
    out, notes = adapt_changes(cur, {"interconnect": "pcie4_bad"})
    assert out["algorithm"] == "auto" and notes
    with pytest.raises(ValueError):
        adapt_changes(cur, {"tp": 3})


def test_adapt_scenario_is_the_scenario_adapt_changes_describes():
    cur = km.Scenario(**BIG, algorithm="in_switch").to_dict()
    for ch in ({"model": "qwen2.5-7b"}, {"interconnect": "pcie4_bad"}, {"batch": 4}):
        out, notes = adapt_changes(cur, ch)
        assert adapt_scenario(cur, ch) == km.Scenario(**{**cur, **out})
    assert adapt_scenario(cur, {"model": "qwen2.5-7b"}).tp == 4       # moved: 4 KV heads
    with pytest.raises(ValueError):
        adapt_scenario(cur, {"tp": 3})


def test_allowed_lists_exactly_what_the_engine_accepts():
    m = ScenarioModel(**BIG)
    spec = km.get_model("llama-2-70b")
    expect = [t for t in range(1, 65) if spec.heads % t == 0
              and (spec.kv_heads % t == 0 or t % spec.kv_heads == 0)]
    assert m.allowed("tp") == expect
    assert m.allowed("ep") == [1]                     # dense model
    m.set(model="mixtral-8x7b", tp=2)
    assert m.allowed("ep") == [e for e in (1, 2, 4, 8) if 8 % e == 0]
    assert "in_switch" in m.allowed("algorithm")
    m.interconnect = "pcie4_bad"
    assert "in_switch" not in m.allowed("algorithm")
    m.allowed("ep").append(3)                          # a copy: what is remembered stays intact
    assert 3 not in m.allowed("ep")


def test_aliases_become_canonical_names():
    m = ScenarioModel(model="llama-70b", gpu="h100", interconnect="nvlink3")
    assert (m.model, m.gpu, m.interconnect) == ("llama-2-70b", "h100-sxm", "nvlink")


def test_json_and_scenario_round_trip():
    m = ScenarioModel(**BIG, batch=4, overlap=0.25, efficiency={"hbm_efficiency": 0.7})
    text = m.to_json()
    assert json.loads(text) == m.to_scenario().to_dict()
    back = ScenarioModel.from_json(text)
    assert back.to_scenario() == m.to_scenario()
    assert back.result.tpot_s == pytest.approx(m.result.tpot_s)
    assert ScenarioModel.from_scenario(m.to_scenario()).to_dict() == m.to_dict()
    with pytest.raises(ValueError, match="unknown"):
        ScenarioModel.from_json('{"tpp": 2}')


def test_bad_efficiency_override_is_refused_with_the_closest_name():
    m = ScenarioModel()
    with pytest.raises(TraitError, match="hbm_efficiency"):
        m.efficiency = {"hbm": 0.7}
    assert m.efficiency is None


def test_importing_the_model_object_imports_no_widgets():
    code = ("import sys, kernel_model.model_object as mo; mo.ScenarioModel(tp=2);"
            "print('ipywidgets' in sys.modules or 'bqplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
