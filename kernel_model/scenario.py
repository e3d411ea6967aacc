"""A :class:`Scenario`: one inference request on one parallel plan on one system.

Scenarios are immutable (``sc.replace(tp=4)`` makes a changed copy), so a scenario that
exists has passed every rule of :mod:`kernel_model.rules`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from .hardware import get_gpu, get_interconnect, closest
from .models import ModelSpec
from .calibration import Calibration
from . import rules
from .rules import ALGORITHMS, BITS  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class Scenario:
    """Inputs of one simulation. Every field has a default; units in the comments.

    ``model``, ``gpu``, ``interconnect`` are preset names (see ``list_models()`` etc.;
    ``model`` may also be a :class:`ModelSpec`); ``interconnect`` joins the GPUs of one node
    ("none" for a single GPU). Plans with more than ``gpus_per_node`` GPUs join nodes with
    ``inter_node`` ("auto": ib_hdr for Ampere, ib_ndr for newer). ``runtime`` is the serving
    runtime profile (``kernel_model.runtime``: compiled, trtllm, trtllm-pytorch, vllm, sglang, tgi, tgi-eager;
    "eager_server" is an alias of tgi-eager). ``weight_format`` names the precision format
    (``kernel_model.formats``: fp16, bf16, fp8, int8, int4-awq, gptq, nvfp4, mxfp4; "auto" =
    the closest to ``weight_bits``; an explicit format with ``weight_bits`` left at 16 takes
    the format's bits). ``efficiency`` overrides calibration fields by name.

    Bounds (``rules.INT_BOUNDS``): tp, pp, ep, gpus_per_node 1..65,536; batch, micro_batches
    1..1,048,576; prompt_tokens, output_tokens 1..10,000,000; comm_group 1..10,000; layers
    1..10,000, moe_experts / active_experts 1..65,536. Booleans take only True / False;
    numpy scalars are stored as Python numbers.
    """
    model: str = "llama-2-7b"
    gpu: str = "a100-sxm-80gb"
    interconnect: str = "nvlink"
    tp: int = 1                       # tensor-parallel GPUs per stage
    pp: int = 1                       # pipeline stages
    ep: int = 1                       # expert-parallel GPUs (MoE only)
    batch: int = 1                    # sequences decoded together
    prompt_tokens: int = 200          # per sequence
    output_tokens: int = 200          # per sequence
    weight_bits: int = 16
    weight_format: str = "auto"       # one of WEIGHT_FORMATS (kernel_model.formats); "auto": from weight_bits
    kv_bits: int = 16
    comm_bits: int = 16               # precision of activations sent between GPUs
    micro_batches: int = 1            # pipeline micro-batches (split of the batch)
    overlap: float = 0.0              # fraction of communication that may hide behind compute
    algorithm: str = "auto"           # collective algorithm, one of ALGORITHMS
    comm_group: int = 1               # collectives coalesced into one launch (latency paid once)
    flash_attention: bool = True
    layers: int | None = None         # override the model's layer count
    moe_experts: int | None = None    # override routed experts (turns a dense model into MoE)
    active_experts: int | None = None # override experts per token
    gpus_per_node: int = 8
    inter_node: str = "auto"
    runtime: str = "compiled"         # serving runtime profile (kernel_model.runtime.RUNTIMES or an alias)
    efficiency: dict | None = None    # calibration overrides, e.g. {"hbm_efficiency": 0.7}

    def __post_init__(self):
        self.validate()

    # ---- validation -------------------------------------------------------------------
    def validate(self) -> None:
        """Apply every rule (field rules, then the plan rules as the length-1 case of the
        sweep's vectorised check); ValueError naming the field, the value and what is allowed."""
        for f in _FIELD_NAMES:
            object.__setattr__(self, f, rules.check_value(f, getattr(self, f)))
        if self.weight_format != "auto" and self.weight_bits == 16:   # the format sets the bits
            from .formats import get_format
            object.__setattr__(self, "weight_bits", get_format(self.weight_format).bits)
        spec = self._resolve()
        T = self.tables()
        code = rules.plan_codes(T)
        if code:
            row = {f: getattr(self, f) for f in ("tp", "pp", "ep", "batch", "micro_batches",
                                                 "weight_bits", "weight_format")}
            row["num_gpus"] = self.num_gpus
            raise ValueError(rules.plan_message(code, _ctx(self, spec, T), row))

    def _resolve(self) -> ModelSpec:
        from .tables import model_spec
        spec = model_spec(self.model, self.layers, self.moe_experts, self.active_experts)
        object.__setattr__(self, "_spec", spec)
        object.__setattr__(self, "_gpu", get_gpu(self.gpu))
        object.__setattr__(self, "_T", None)
        return spec

    def tables(self) -> dict:
        """T (see :mod:`kernel_model.tables`): this scenario's numbers, Python floats."""
        if self._T is None:
            from .tables import scenario_T
            object.__setattr__(self, "_T", scenario_T(self))
        return self._T

    # ---- resolved specs ---------------------------------------------------------------
    def model_spec(self) -> ModelSpec:
        return self._spec

    def gpu_spec(self):
        return self._gpu

    def link_spec(self):
        if self.interconnect == "none":
            return get_interconnect(self.gpu_spec().native_link)
        return get_interconnect(self.interconnect)

    def inter_node_spec(self):
        if self.inter_node == "auto":
            from .hardware import inter_node_for
            return inter_node_for(self.gpu_spec())
        return get_interconnect(self.inter_node)

    def calibration(self) -> Calibration:
        """The calibration this scenario runs with: the engine's, ``efficiency`` overrides,
        then the overrides for this GPU's family (``families``), if any."""
        from .tables import calibration
        return calibration(self.efficiency, self._gpu.family, self.runtime)

    def weight_format_spec(self):
        """The :class:`~kernel_model.formats.Format` this scenario runs (``"auto"``: the
        closest to ``weight_bits`` on this GPU)."""
        from .formats import resolve
        return resolve(self.weight_format, self.weight_bits, self.gpu_spec())

    @property
    def gpus_per_stage(self) -> int:
        return max(self.tp, self.ep)

    @property
    def num_gpus(self) -> int:
        return self.gpus_per_stage * self.pp

    # ---- conversion -------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain Python values only (JSON-ready); a ModelSpec model becomes its dict, which
        ``from_dict`` / ``Scenario(model=dict)`` read back."""
        d = {f: getattr(self, f) for f in _FIELD_NAMES}
        if isinstance(d["model"], ModelSpec):
            d["model"] = rules._plain(d["model"].to_dict())
        if d["efficiency"] is not None:
            d["efficiency"] = rules._plain(d["efficiency"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Scenario":
        if not isinstance(d, dict):
            raise ValueError(f"a scenario must be a dict of fields, not {type(d).__name__}")
        names = list(_FIELD_NAMES)
        bad = [k for k in d if k not in names]
        if bad:
            near = closest(bad[0], names)
            raise ValueError(f"Scenario field {bad[0]!r} is unknown"
                             + (f"; closest: {', '.join(near)}" if near else ""))
        return cls(**d)

    def replace(self, **kw) -> "Scenario":
        d = self.to_dict()
        if "weight_format" in kw and "weight_bits" not in kw:
            d["weight_bits"] = 16                 # the new format sets the bits
        elif "weight_bits" in kw and "weight_format" not in kw:
            d["weight_format"] = "auto"           # new bits: the closest format
        d.update(kw)
        return Scenario.from_dict(d)

    def __hash__(self):
        import json
        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))

    @staticmethod
    def field_names() -> list[str]:
        return list(_FIELD_NAMES)


_FIELD_NAMES = tuple(f.name for f in fields(Scenario))


def _ctx(sc, spec, T) -> dict:
    """What plan_message needs to word a rule for this scenario."""
    return {"model": spec.name, "nh": T["nh"], "nkv": T["nkv"], "L": T["L"], "E": T["E"],
            "k": T["k"], "interconnect": sc.interconnect, "fmt_bits": T["fmt_bits"]}
