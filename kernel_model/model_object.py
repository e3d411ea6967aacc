"""``ScenarioModel``: a live, observable :class:`~kernel_model.Scenario` (traitlets only).

One trait per Scenario field. Every change is validated by the engine's own rules (an
invalid value raises ``TraitError`` naming the field, the value and what is allowed, and
leaves the model as it was); after each accepted change the read-only ``result`` trait is
recomputed once::

    m = ScenarioModel(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8)
    m.observe(lambda ch: print(ch.new.tpot_s), "result")
    m.batch = 8                          # one simulate(), one notification
    with m.hold_trait_notifications():   # several changes, still one simulate()
        m.model, m.tp = "qwen2.5-7b", 4
    m.set(model="opt-13b", adapt=True)   # atomic; adapt=True also fixes fields the new
                                         # value makes invalid (here tp 4 -> ... stays 4)

``error`` holds the message of the last rejected change ("" after a good one) while
``result`` keeps the last good result. Views that show other plans beside the result (a
scaling chart over tp, a comparison of links) register ``add_plan_provider(fn)``: each
recomputation then evaluates the result and every provider's plans in ONE stacked
``evaluate()`` (``plan_evaluation(fn, result)`` returns the plans' rows). Nothing here
imports ipywidgets or bqplot.
"""
from __future__ import annotations

import json
import math

from traitlets import (Bool, Dict, Float, HasTraits, Instance, Int, TraitError, Unicode,
                       observe, validate)

from .scenario import Scenario
from .simulate import Result, simulate
from .stack import evaluate_scenarios, result_of, take_rows
from .models import get_model
from .hardware import get_gpu, get_interconnect

#: Scenario fields in declaration order (the traits of ``ScenarioModel``).
FIELDS = tuple(Scenario.field_names())
_DEFAULTS = Scenario().to_dict()

#: Candidate values tried when listing what a field may take (see ``allowed``).
CANDIDATES = {
    "tp": tuple(range(1, 65)),
    "ep": (1, 2, 4, 8, 16, 32, 64),
    "pp": tuple(range(1, 9)),
    "micro_batches": tuple(range(1, 33)),
    "algorithm": ("auto", "ring", "tree", "oneshot", "twoshot", "in_switch"),
}


class ScenarioModel(HasTraits):
    """Observable scenario; see the module docstring. Units as in :class:`Scenario`."""

    model = Unicode(_DEFAULTS["model"], help="model preset name")
    gpu = Unicode(_DEFAULTS["gpu"], help="GPU preset name")
    interconnect = Unicode(_DEFAULTS["interconnect"], help="link inside a node ('none': 1 GPU)")
    tp = Int(_DEFAULTS["tp"], help="tensor-parallel GPUs per stage")
    pp = Int(_DEFAULTS["pp"], help="pipeline stages")
    ep = Int(_DEFAULTS["ep"], help="expert-parallel GPUs (MoE only)")
    batch = Int(_DEFAULTS["batch"], help="sequences decoded together")
    prompt_tokens = Int(_DEFAULTS["prompt_tokens"], help="prompt tokens per sequence")
    output_tokens = Int(_DEFAULTS["output_tokens"], help="generated tokens per sequence")
    weight_bits = Int(_DEFAULTS["weight_bits"], help="bits per weight: 4, 8 or 16")
    weight_format = Unicode(_DEFAULTS["weight_format"], help="weight format (kernel_model.formats), 'auto': from weight_bits")
    kv_bits = Int(_DEFAULTS["kv_bits"], help="bits per KV-cache element: 4, 8 or 16")
    comm_bits = Int(_DEFAULTS["comm_bits"], help="bits per communicated activation")
    micro_batches = Int(_DEFAULTS["micro_batches"], help="pipeline micro-batches")
    overlap = Float(_DEFAULTS["overlap"], help="fraction of communication hidden, 0..1")
    algorithm = Unicode(_DEFAULTS["algorithm"], help="collective algorithm")
    comm_group = Int(_DEFAULTS["comm_group"], help="collectives coalesced per launch")
    flash_attention = Bool(_DEFAULTS["flash_attention"])
    layers = Int(None, allow_none=True, help="override the layer count")
    moe_experts = Int(None, allow_none=True, help="override routed experts")
    active_experts = Int(None, allow_none=True, help="override experts per token")
    gpus_per_node = Int(_DEFAULTS["gpus_per_node"])
    inter_node = Unicode(_DEFAULTS["inter_node"], help="link between nodes: auto|ib_hdr|ib_ndr")
    runtime = Unicode(_DEFAULTS["runtime"], help="serving runtime: compiled|eager_server")
    efficiency = Dict(default_value=None, allow_none=True, help="calibration overrides by name")

    result = Instance(Result, read_only=True, help="simulate() of the current scenario")
    error = Unicode("", help="message of the last rejected change; '' after a good one")

    def __init__(self, scenario: Scenario | dict | None = None, **kw):
        """``ScenarioModel(sc)``, ``ScenarioModel({...})`` or ``ScenarioModel(tp=8, ...)``."""
        if scenario is not None:
            d = scenario.to_dict() if isinstance(scenario, Scenario) else dict(scenario)
            d.update(kw)
            kw = d
        _check_names(kw)
        self._key = None
        self._plan_providers = []             # see add_plan_provider
        self._stacked = None                  # (result, {provider: evaluation rows})
        self._checked = None                  # (fields, Scenario) of the last accepted value
        self._allowed = {}                    # memo of allowed(): (name, other fields) -> values
        super().__init__(**kw)
        self._recompute()

    # ---- validation -------------------------------------------------------------------
    def _values(self) -> dict:
        """The fields as a dict for ``Scenario(**d)`` (``efficiency`` copied)."""
        d = {f: getattr(self, f) for f in FIELDS}
        if d["efficiency"] is not None:
            d["efficiency"] = dict(d["efficiency"])
        return d

    @validate(*FIELDS)
    def _validate_field(self, proposal):
        name, value = proposal.trait.name, proposal.value
        value = _canonical(name, value)
        d = self._values()
        d[name] = value
        try:
            self._checked = (d, Scenario(**d))           # _recompute reuses it when it matches
        except (ValueError, TypeError, KeyError) as e:
            msg = str(e).strip("'\"")
            if not self._cross_validation_lock:          # a lone assignment: record it now
                self.set_trait("error", msg)
            raise TraitError(msg) from None
        return value

    # ---- recomputation ----------------------------------------------------------------
    @observe(*FIELDS)
    def _field_changed(self, change):
        self._recompute()

    def _recompute(self) -> None:
        """simulate() the current scenario unless it is the one already computed."""
        d = self._values()
        key = json.dumps(d, sort_keys=True, default=str)
        if key == self._key:
            return
        checked = self._checked
        self._checked = None
        try:
            sc = checked[1] if checked is not None and checked[0] == d else Scenario(**d)
            res, stacked = self._evaluate(sc)
        except (ValueError, TypeError, ArithmeticError) as e:   # engine refused: keep the last
            self.error = str(e)
            return
        self._key = key
        self._stacked = (res, stacked)
        self.set_trait("result", res)
        self.error = ""

    def _evaluate(self, sc: Scenario) -> tuple[Result, dict]:
        """(simulate(sc), {provider: evaluation of its plans}): ONE stacked ``evaluate()`` of
        ``sc`` and of every registered provider's plans (plain ``simulate`` when none)."""
        stack, spans = [sc], {}
        for provider in list(self._plan_providers):
            try:
                plans = list(provider(sc))
            except (ValueError, TypeError):   # a view's own plans failed: it is left out (and
                continue                      # reads None from plan_evaluation), not the result
            spans[provider] = slice(len(stack), len(stack) + len(plans))
            stack += plans
        if len(stack) == 1:
            return simulate(sc), {}
        ev = evaluate_scenarios(stack)
        res = result_of(ev, 0)
        if not all(math.isfinite(x) for x in (res.tpot_s, res.ttft_s, res.e2e_s)):
            res = simulate(sc)                # the scalar path raises where the engine refuses
        return res, {p: take_rows(ev, sl) for p, sl in spans.items()}

    # ---- plans evaluated with the result ------------------------------------------------
    def add_plan_provider(self, provider) -> None:
        """Evaluate ``provider(scenario) -> [Scenario, ...]`` (other plans a view shows beside
        the result) in the same stacked ``evaluate()`` as every later ``result``; read them
        with :meth:`plan_evaluation`. ``provider`` is held until :meth:`remove_plan_provider`;
        one that raises ValueError / TypeError is left out of that evaluation."""
        if provider not in self._plan_providers:
            self._plan_providers.append(provider)

    def remove_plan_provider(self, provider) -> None:
        if provider in self._plan_providers:
            self._plan_providers.remove(provider)

    def plan_evaluation(self, provider, result: Result):
        """The :func:`~kernel_model.stack.evaluate_scenarios` rows of ``provider``'s plans
        evaluated together with ``result``, or None (another result, or not included)."""
        if self._stacked is None or self._stacked[0] is not result:
            return None
        return self._stacked[1].get(provider)

    # ---- batch changes ----------------------------------------------------------------
    def set(self, adapt: bool = False, **kw) -> list[str]:
        """Change several fields at once: all or nothing, one recomputation.

        ``adapt=True`` also changes fields that the requested values make invalid (tp that
        no longer divides the heads, ep on a dense model, micro_batches above batch, ...)
        and returns one note per adjustment. Raises ``TraitError`` (and sets ``error``)
        when the change is refused; the model is then unchanged.
        """
        try:
            _check_names(kw)
            notes = []
            if adapt:
                kw, notes = adapt_changes(self._values(), kw)
            with self.hold_trait_notifications():
                for k, v in kw.items():
                    setattr(self, k, v)
        except (ValueError, TraitError) as e:
            self.error = str(e)
            raise TraitError(str(e)) from None
        return notes

    def allowed(self, name: str) -> list:
        """The values of ``name`` (tp, ep, pp, micro_batches, algorithm) that the engine
        accepts with the other fields as they are (ep reset to 1 when listing tp)."""
        base = self._values()
        if name == "tp":
            base["ep"] = 1
        key = (name, json.dumps({**base, name: None}, sort_keys=True, default=str))
        if key not in self._allowed:
            if len(self._allowed) >= 256:
                self._allowed.clear()
            self._allowed[key] = _allowed_values(base, name)
        return list(self._allowed[key])

    # ---- conversion -------------------------------------------------------------------
    @property
    def scenario(self) -> Scenario:
        return self.to_scenario()

    def to_scenario(self) -> Scenario:
        return Scenario(**self._values())

    @classmethod
    def from_scenario(cls, sc: Scenario) -> "ScenarioModel":
        return cls(sc)

    def to_dict(self) -> dict:
        return self.to_scenario().to_dict()

    def to_json(self, **kw) -> str:
        """The scenario as JSON (the fields of ``Scenario.to_dict``)."""
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_json(cls, text: str) -> "ScenarioModel":
        d = json.loads(text)
        if not isinstance(d, dict):
            raise TraitError(f"scenario JSON must be an object of fields, not {type(d).__name__}")
        return cls(Scenario.from_dict(d))

    def __repr__(self) -> str:
        changed = {k: v for k, v in self._values().items() if v != _DEFAULTS.get(k)}
        return "ScenarioModel(" + ", ".join(f"{k}={v!r}" for k, v in changed.items()) + ")"


def _check_names(kw: dict) -> None:
    """ValueError naming the first key of ``kw`` that is no Scenario field, and the closest."""
    bad = [k for k in kw if k not in FIELDS]
    if bad:
        Scenario.from_dict({bad[0]: kw[bad[0]]})


def _allowed_values(base: dict, name: str) -> tuple:
    """CANDIDATES[name] that the engine accepts with the other fields of ``base``: one
    vectorised check of the plan rules (kernel_model.rules) for plan fields."""
    from . import rules
    from .tables import PLAN_FIELDS
    cands = CANDIDATES.get(name, ())
    if name in PLAN_FIELDS:
        try:
            T = Scenario(**base).tables()
        except ValueError:
            T = None
        if T is not None:
            return tuple(rules.allowed(name, cands, T))
    return tuple(v for v in cands if _valid({**base, name: v}))


def _valid(d: dict) -> bool:
    """Whether the engine accepts the scenario ``d``."""
    try:
        Scenario(**d)
        return True
    except ValueError:
        return False


def _canonical(name, value):
    """Preset aliases become canonical names (llama-70b -> llama-2-70b); else unchanged."""
    try:
        if name == "model":
            return get_model(value).name
        if name == "gpu":
            return get_gpu(value).name
        if name == "interconnect" and value != "none":
            return get_interconnect(value).name
        if name == "weight_format" and value != "auto":
            from .formats import get_format
            return get_format(value).name
    except (ValueError, KeyError, AttributeError):
        pass                                   # the Scenario check gives the message
    return value


def adapt_changes(current: dict, changes: dict) -> tuple[dict, list[str]]:
    """Extend ``changes`` so that ``current`` updated with them is a valid scenario.

    Fields named in ``changes`` are never altered; others are moved to the nearest value
    the engine accepts. Returns (changes to apply, notes). Raises ``ValueError`` (the
    engine's message) when no such adjustment exists.
    """
    _, out, notes = _adapt(current, changes)
    return out, notes


def adapt_scenario(current: dict, changes: dict) -> Scenario:
    """The Scenario ``current`` updated with ``changes`` as :func:`adapt_changes` extends
    them (fields named in ``changes`` are canonical preset names there). Raises ``ValueError``."""
    return _adapt(current, changes)[0]


def _adapt_precision(d: dict, changes: dict, out: dict, notes: list) -> None:
    """Keep ``weight_bits`` and ``weight_format`` in step, as ``Scenario.replace`` does: a
    new format sets the bits to its own; new bits that an explicit format does not have
    return the format to ``auto`` (the closest format to the bits)."""
    from .formats import FORMATS
    fmt = FORMATS.get(d.get("weight_format"))
    if fmt is None or fmt.bits == d.get("weight_bits"):
        return
    if "weight_format" in changes and "weight_bits" not in changes:
        notes.append(f"weight_bits {d['weight_bits']} -> {fmt.bits}: the bits of {fmt.name}")
        d["weight_bits"] = out["weight_bits"] = fmt.bits
    elif "weight_bits" in changes and "weight_format" not in changes:
        notes.append(f"weight_format {fmt.name} -> auto: {fmt.name} has {fmt.bits}-bit "
                     f"weights, not {d['weight_bits']}")
        d["weight_format"] = out["weight_format"] = "auto"


def _adapt(current: dict, changes: dict) -> tuple[Scenario, dict, list[str]]:
    """(the adapted Scenario, changes to apply, notes); see :func:`adapt_changes`."""
    d = {**current, **{k: _canonical(k, v) for k, v in changes.items()}}
    out, notes = dict(changes), []
    _adapt_precision(d, changes, out, notes)
    try:
        return Scenario(**d), out, notes       # valid as asked: nothing to move
    except ValueError:
        pass

    def ok(**kw):
        return _valid({**d, **kw})

    def put(name, value, why):
        notes.append(f"{name} {d[name]} -> {value}: {why}")
        d[name] = out[name] = value

    def move(name, candidates, test, why):
        """Set ``name`` to the first candidate that passes ``test``."""
        v = next((c for c in candidates if test(c)), None)
        if v is not None:
            put(name, v, why)

    try:
        spec = get_model(d["model"]).with_overrides(d["layers"], d["moe_experts"], d["active_experts"])
    except (ValueError, TypeError):
        Scenario(**d)                        # raises the engine's message
        raise

    def nearest(values, x):                  # the largest value <= x first, then upwards
        return sorted(values, key=lambda v: (v > x, -v if v <= x else v))

    # Fields with a direct rule first; tp and ep (which depend on each other) last.
    if "ep" not in changes and d["ep"] > 1 and not spec.is_moe:
        put("ep", 1, f"{spec.name} has no experts")
    if "algorithm" not in changes and d["algorithm"] == "in_switch":
        if not get_interconnect(d["interconnect"] if d["interconnect"] != "none"
                                else get_gpu(d["gpu"]).native_link).in_switch:
            put("algorithm", "auto", f"{d['interconnect']} has no in-switch reduction")
    if "pp" not in changes and d["pp"] > spec.layers:
        put("pp", spec.layers, f"{spec.name} has {spec.layers} layers")
    if "micro_batches" not in changes and d["micro_batches"] > d["batch"]:
        put("micro_batches", d["batch"], "at most batch")
    # tp / ep at fault: still invalid with every other dependent field at a neutral value
    neutral = dict(algorithm="auto", micro_batches=1,
                   interconnect=d["interconnect"] if d["interconnect"] != "none" else "nvlink")
    if "tp" not in changes and not ok(ep=1, **neutral):
        move("tp", nearest(CANDIDATES["tp"], d["tp"]), lambda t: ok(tp=t, ep=1, **neutral),
             f"must divide the {spec.heads} heads ({spec.kv_heads} KV heads) of {spec.name}")
    if "ep" not in changes and not ok(**neutral):
        move("ep", nearest(CANDIDATES["ep"], d["ep"]), lambda e: ok(ep=e, **neutral),
             f"must divide the {spec.experts} experts and fit with tp={d['tp']}")
    if "interconnect" not in changes and d["interconnect"] == "none" and not ok():
        put("interconnect", get_gpu(d["gpu"]).native_link, "several GPUs need a link")
    return Scenario(**d), out, notes         # still invalid: the engine's message
