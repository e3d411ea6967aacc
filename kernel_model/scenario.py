"""A :class:`Scenario`: one inference request on one parallel plan on one system."""
from __future__ import annotations

import numbers
from dataclasses import dataclass, asdict, fields, field

from .hardware import get_gpu, get_interconnect, INTERCONNECTS, closest
from .models import get_model, ModelSpec
from .calibration import Calibration, DEFAULT
from .runtime import get_runtime
from .formats import WEIGHT_FORMATS, get_format

ALGORITHMS = ("auto", "ring", "tree", "oneshot", "twoshot", "in_switch")
BITS = (4, 8, 16)


@dataclass
class Scenario:
    """Inputs of one simulation. Every field has a default; units in the comments.

    ``model``, ``gpu``, ``interconnect`` are preset names (see ``list_models()`` etc.);
    ``interconnect`` joins the GPUs of one node ("none" for a single GPU). Plans with more
    than ``gpus_per_node`` GPUs join nodes with ``inter_node`` ("auto": ib_hdr for Ampere,
    ib_ndr for newer). ``runtime`` is the serving runtime (``kernel_model.runtime``: "compiled"
    or "eager_server"; named profiles: trtllm, vllm, sglang, tgi, tgi-eager). ``weight_format``
    names the precision format (``kernel_model.formats``: fp16, bf16, fp8, int8, int4-awq,
    gptq, nvfp4, mxfp4; "auto" = the closest to ``weight_bits``). ``efficiency`` overrides
    calibration fields by name.
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
        spec = self.model_spec()          # raises on unknown model / bad overrides
        self.gpu_spec()
        self.link_spec()
        for name in ("tp", "pp", "ep", "batch", "prompt_tokens", "output_tokens",
                     "micro_batches", "comm_group", "gpus_per_node"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{name}={v!r} is not allowed: must be a whole number >= 1")
            setattr(self, name, int(v))
        for name in ("weight_bits", "kv_bits", "comm_bits"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v not in BITS:
                raise ValueError(f"{name}={v!r} is not allowed: must be one of 4, 8, 16")
            setattr(self, name, int(v))
        self._check_format()
        if (isinstance(self.overlap, bool) or not isinstance(self.overlap, numbers.Real)
                or not 0.0 <= self.overlap <= 1.0):
            raise ValueError(f"overlap={self.overlap!r} is not allowed: must be in [0, 1]")
        if self.algorithm not in ALGORITHMS:
            near = closest(self.algorithm, ALGORITHMS)
            raise ValueError(f"algorithm={self.algorithm!r} is not allowed"
                             + (f"; closest: {', '.join(near)}" if near else "")
                             + f" (valid: {', '.join(ALGORITHMS)})")
        if self.algorithm == "in_switch" and not self.link_spec().in_switch:
            raise ValueError(f"algorithm='in_switch' needs an NVSwitch with in-switch reduction "
                             f"(nvlink4, nvlink5), not interconnect={self.interconnect!r}")
        nh, nkv = spec.heads, (spec.kv_heads if not spec.kv_lora_rank else 1)
        if nh % self.tp:
            ok = [t for t in range(1, nh + 1) if nh % t == 0 and t <= 64]
            raise ValueError(f"tp={self.tp} does not divide the {nh} attention heads of "
                             f"{spec.name}; allowed tp: {', '.join(map(str, ok))}")
        if nkv % self.tp and self.tp % nkv:
            raise ValueError(f"tp={self.tp} cannot shard the {nkv} KV heads of {spec.name}: "
                             f"tp must divide {nkv} or be a multiple of it")
        if self.pp > spec.layers:
            raise ValueError(f"pp={self.pp} is not allowed: larger than the {spec.layers} "
                             f"layers of {spec.name} (allowed 1..{spec.layers})")
        if self.ep > 1:
            if not spec.is_moe:
                raise ValueError(f"ep={self.ep} is not allowed: {spec.name} has no experts "
                                 f"(set moe_experts, or ep=1)")
            if spec.experts % self.ep:
                raise ValueError(f"ep={self.ep} does not divide the {spec.experts} experts of "
                                 f"{spec.name}")
            big, small = max(self.tp, self.ep), min(self.tp, self.ep)
            if big % small:
                raise ValueError(f"ep={self.ep} and tp={self.tp}: one must divide the other")
        if self.micro_batches > self.batch:
            raise ValueError(f"micro_batches={self.micro_batches} is not allowed: larger than "
                             f"batch={self.batch}")
        if self.interconnect == "none" and self.num_gpus > 1:
            raise ValueError(f"interconnect='none' is only for one GPU; this plan uses "
                             f"{self.num_gpus} (choose one of {', '.join(INTERCONNECTS)})")
        if self.inter_node != "auto":
            link = get_interconnect(self.inter_node)
            if link.kind != "network":
                raise ValueError(f"inter_node={self.inter_node!r} is not allowed: must be 'auto', "
                                 f"'ib_hdr' or 'ib_ndr'")
        get_runtime(self.runtime)
        self.calibration()

    def _check_format(self) -> None:
        """``weight_format``: a name of WEIGHT_FORMATS (aliases such as "awq" accepted);
        an explicit format sets ``weight_bits`` (left at 16, it takes the format's bits;
        another value must agree)."""
        v = self.weight_format
        if not isinstance(v, str):
            raise ValueError(f"weight_format={v!r} is not allowed: must be one of "
                             f"{', '.join(WEIGHT_FORMATS)}")
        if v == "auto":
            return
        fmt = get_format(v)                  # unknown: field, value, closest, valid names
        self.weight_format = fmt.name
        if self.weight_bits == 16:
            self.weight_bits = fmt.bits
        elif self.weight_bits != fmt.bits:
            raise ValueError(f"weight_bits={self.weight_bits} disagrees with weight_format="
                             f"{fmt.name!r} ({fmt.bits}-bit): set weight_format='auto' or "
                             f"weight_bits={fmt.bits}")

    def weight_format_spec(self):
        """The :class:`~kernel_model.formats.Format` this scenario runs (``"auto"``: the
        closest to ``weight_bits`` on this GPU)."""
        from .formats import resolve
        return resolve(self.weight_format, self.weight_bits, self.gpu_spec())

    # ---- resolved specs ---------------------------------------------------------------
    def model_spec(self) -> ModelSpec:
        base = get_model(self.model)
        for name in ("layers", "moe_experts", "active_experts"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1):
                raise ValueError(f"{name}={v!r} is not allowed: must be a whole number >= 1 or None")
        spec = base.with_overrides(self.layers, self.moe_experts, self.active_experts)
        if spec.top_k > spec.experts:
            raise ValueError(f"active_experts={spec.top_k} is not allowed: more than the "
                             f"{spec.experts} experts")
        return spec

    def gpu_spec(self):
        return get_gpu(self.gpu)

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
        cal = DEFAULT
        if self.efficiency:
            if not isinstance(self.efficiency, dict):
                raise ValueError(f"efficiency={self.efficiency!r} is not allowed: must be a dict "
                                 f"of calibration fields")
            cal = DEFAULT.replace(**self.efficiency)
        return cal.resolve(self.gpu_spec().family, get_runtime(self.runtime).name)

    @property
    def gpus_per_stage(self) -> int:
        return max(self.tp, self.ep)

    @property
    def num_gpus(self) -> int:
        return self.gpus_per_stage * self.pp

    # ---- conversion -------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        if d["efficiency"] is not None:
            d["efficiency"] = dict(d["efficiency"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Scenario":
        names = [f.name for f in fields(cls)]
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

    @staticmethod
    def field_names() -> list[str]:
        return [f.name for f in fields(Scenario)]
