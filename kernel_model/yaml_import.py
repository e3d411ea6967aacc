"""Read hardware and model descriptions written for the earlier research model (YAML).

Only what maps cleanly onto this engine is used; everything else is listed in one
``UserWarning`` (and in ``YamlImport.ignored``) so nothing is dropped silently.

Hardware files (``sw_param`` / ``tech_param`` / ``power_breakdown`` / ``system_hierarchy`` /
``scheduling_param`` ...) become a :class:`~kernel_model.hardware.GPU` preset:

* dense 16-bit peak = ``core.operating_frequency * num_bundles * num_mcu_per_bundle *
  nominal_flop_rate_per_mcu`` (FLOP/s);
* ``DRAM.size`` -> memory_gb, ``DRAM.bandwidth`` -> hbm_gbps (units "KB/MB/GB/TB" are
  decimal; bandwidth is per second; a size is the datasheet's figure, "80 GB", which the
  engine reads as GiB like every preset's: ``GPU.capacity_bytes``),
  ``DRAM.dynamic_energy_per_bit`` (J) -> energy per HBM byte for :mod:`kernel_model.energy`;
* ``power_breakdown.TDP`` -> tdp_w (idle power is not in the layout: 15 % of TDP assumed);
* ``sw_param.kernel_launch_overhead`` -> calibration ``launch_overhead_s``, ``core.util`` ->
  ``flops_efficiency``, ``DRAM.util`` -> ``hbm_efficiency`` (returned in
  ``YamlImport.efficiency`` for ``Scenario(efficiency=...)``, not applied globally);
* ``system_hierarchy.num_devices_per_node`` -> gpus_per_node; ``scheduling_param`` dp / lp /
  kp1 -> dp / pp / tp (1-D kernel parallelism only).

Model files (``model_param``): mode LLM / Transformer -> a GPT-style :class:`ModelSpec`
(``hidden_dim``, ``num_heads``, ``ffn_dim`` or ``ffn_mult``, ``vocab_size``, ``num_layers``)
plus training settings (``batch_size`` -> global_batch, ``seq_len``, ``N_PP`` -> pp);
mode GEMM -> keyword arguments of :func:`kernel_model.gemm.gemm` (M, K, N, backward).
"""
from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass, field

IDLE_SHARE = 0.15      # idle / TDP when the file gives no idle power
_UNITS = {"": 1.0, "B": 1.0, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}


@dataclass
class YamlImport:
    """What one YAML file yielded."""
    kind: str                                   # hardware | model | gemm
    gpu: object = None                          # GPU (hardware files)
    model: object = None                        # ModelSpec (model files)
    scenario: dict = field(default_factory=dict)    # Scenario / simulate_training keywords
    efficiency: dict = field(default_factory=dict)  # calibration overrides the file implies
    training: dict = field(default_factory=dict)    # simulate_training keywords
    gemm: dict = field(default_factory=dict)        # gemm() keywords
    energy: dict = field(default_factory=dict)      # EnergyParams overrides
    ignored: list = field(default_factory=list)     # dotted keys not used


MAX_YAML_VALUES = 100_000   # values in a file once every alias is expanded
MAX_YAML_DEPTH = 64          # nesting levels
MAX_COUNT = 1 << 20          # devices per node, parallel degrees, batch, sequence length
MAX_GEMM_DIM = 1 << 24       # GEMM M / K / N


def _children(node):
    import yaml
    if isinstance(node, yaml.MappingNode):
        return [x for kv in node.value for x in kv]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_node_graph(root, max_values=MAX_YAML_VALUES, max_depth=MAX_YAML_DEPTH) -> int:
    """The number of values ``root`` holds with every alias expanded, computed without
    expanding (each node once, iteratively); ``ValueError`` for a self-referencing anchor,
    more than ``max_values`` values ("billion laughs") or more than ``max_depth`` levels."""
    size, state = {}, {}
    stack = [(root, 1, False)]
    while stack:
        node, depth, post = stack.pop()
        k = id(node)
        if post:
            total = 1 + sum(size[id(c)] for c in _children(node))
            if total > max_values:
                raise ValueError(f"expands to more than {max_values:,} values (nested aliases?); "
                                 f"at most {max_values:,} are allowed")
            size[k], state[k] = total, 2
            continue
        st = state.get(k)
        if st == 2:
            continue
        if st == 1:
            raise ValueError("holds an anchor that refers to itself (a recursive alias); "
                             "not allowed")
        if depth > max_depth:
            raise ValueError(f"is nested deeper than {max_depth} levels; not allowed")
        state[k] = 1
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in _children(node))
    return size[id(root)]


def parse_yaml(text):
    """Parse one YAML document with PyYAML's safe loader, refusing documents whose aliases
    expand beyond ``MAX_YAML_VALUES`` values, recursive anchors and deep nesting (the node
    graph is checked before any Python object is built)."""
    try:
        import yaml
    except ImportError:
        raise ImportError("reading YAML needs PyYAML: pip install pyyaml") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_node_graph(node)
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        raise ValueError(f"cannot be parsed: {str(e).splitlines()[0]}") from None
    except RecursionError:
        raise ValueError(f"is nested deeper than {MAX_YAML_DEPTH} levels; not allowed") from None
    finally:
        loader.dispose()


def _read(path_or_dict):
    from .hf_config import read_mapping
    if isinstance(path_or_dict, dict):
        return path_or_dict, None
    return read_mapping(path_or_dict, "YAML file", parse_yaml)


def _quantity(v, key, where, lo=0.0, hi=math.inf, lo_open=True):
    """'80 GB' -> 8e10; '1986 GB' -> 1.986e12; numbers pass through. The result must be
    finite and in the range (lo, hi] (``lo_open``) or [lo, hi]."""
    rng = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError(f"{where}: {key}={v!r} must be a number or '<number> <unit>'")
    if isinstance(v, (int, float)):
        x = float(v)
    else:
        m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([KMGT]?B)?\s*(/s)?\s*", str(v))
        if not m:
            raise ValueError(f"{where}: {key}={v!r} must be a number or '<number> <unit>' "
                             f"(units: {', '.join(u for u in _UNITS if u)})")
        try:
            x = float(m.group(1)) * _UNITS[m.group(2) or ""]
        except ValueError:
            raise ValueError(f"{where}: {key}={v!r} is not a number") from None
    if not math.isfinite(x) or not (lo < x if lo_open else lo <= x) or x > hi:
        raise ValueError(f"{where}: {key}={v!r} is not allowed: must be a finite number in {rng}")
    return x


def _whole(v, key, where, lo=1, hi=MAX_COUNT) -> int:
    if (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
            or v != int(v) or not lo <= v <= hi):
        raise ValueError(f"{where}: {key}={v!r} is not allowed: must be a whole number in "
                         f"[{lo}, {hi}]")
    return int(v)


def _flatten(d, prefix=""):
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out += _flatten(v, key + ".")
        else:
            out.append(key)
    return out


def _get(d, dotted, where, required=True):
    cur = d
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur or cur[part] is None:
            if required:
                raise ValueError(f"{where}: key {dotted!r} is missing")
            return None
        cur = cur[part]
    return cur


def load_yaml(path_or_dict, name: str | None = None, register: bool = True) -> YamlImport:
    """Read one hardware or model YAML file (or its parsed dict); see the module docstring.

    Hardware becomes a GPU preset named ``name`` (default: the top-level ``name`` key or the
    file name), registered so ``Scenario(gpu=name)`` works; models are registered with
    :func:`kernel_model.register_model`.
    """
    data, path = _read(path_or_dict)
    where = f"YAML {path!r}" if path else "YAML"
    stem = os.path.splitext(os.path.basename(path))[0].lower() if path else None
    if "model_param" in data:
        out = _model(data, where, name or data.get("name") or stem, register)
    elif "tech_param" in data:
        out = _hardware(data, where, name or data.get("name") or stem, register)
    else:
        raise ValueError(f"{where}: neither 'tech_param' (hardware) nor 'model_param' (model) "
                         f"found at the top level; keys: {', '.join(map(str, data)) or 'none'}")
    if out.ignored:
        warnings.warn(f"{where}: ignored (no equivalent in this engine): " + ", ".join(out.ignored),
                      UserWarning, stacklevel=2)
    return out


def _hardware(data, where, name, register) -> YamlImport:
    from .hardware import GPU, GPUS, GPU_ALIASES, register_gpu, get_interconnect
    if not name:
        raise ValueError(f"{where}: give name= (or a top-level 'name' key) for the GPU")
    name = str(name).lower()
    used = {"name", "family", "native_link"}

    def need(dotted, label):
        used.add(dotted)
        return _quantity(_get(data, dotted, where), label, where, 0.0, 1e19)

    core = "tech_param.core."
    peak = (need(core + "operating_frequency", "operating_frequency")
            * need(core + "num_bundles", "num_bundles")
            * need(core + "num_mcu_per_bundle", "num_mcu_per_bundle")
            * need(core + "nominal_flop_rate_per_mcu", "nominal_flop_rate_per_mcu"))
    mem = need("tech_param.DRAM.size", "DRAM.size")
    bw = need("tech_param.DRAM.bandwidth", "DRAM.bandwidth")
    tdp = need("power_breakdown.TDP", "TDP")
    if peak > 1e19:
        raise ValueError(f"{where}: peak FLOP/s {peak:g} (the four core fields multiplied) is "
                         f"not allowed: must be at most 1e19")
    out = YamlImport(kind="hardware")
    native = str(data.get("native_link", "nvlink"))
    get_interconnect(native)                       # raises with closest names
    gpu = GPU(name=name, bf16_tflops=peak / 1e12, fp8_tflops=None, hbm_gbps=bw / 1e9,
              memory_gb=mem / 1e9, tdp_w=tdp, idle_w=IDLE_SHARE * tdp,
              family=str(data.get("family", "custom")), native_link=native,
              source=f"{where} (research-model layout)",
              notes=f"idle power assumed {IDLE_SHARE:.0%} of TDP")
    out.gpu = gpu
    _hardware_options(data, where, out, used)
    out.ignored = [k for k in _flatten(data) if k not in used]
    if register:
        if name in GPUS and not GPUS[name].source.startswith("YAML"):
            raise ValueError(f"{where}: name {name!r} is a built-in GPU preset; pass another name=")
        if name in GPU_ALIASES:
            raise ValueError(f"{where}: name {name!r} is a built-in GPU alias; pass another name=")
        register_gpu(gpu, replace=True)
        if out.energy:
            from .energy import register_energy
            register_energy(name, **out.energy)
    return out


def _hardware_options(data, where, out, used) -> None:
    """The optional hardware keys: energy, calibration hints, precision, plan."""
    from .calibration import DEFAULT

    def opt(dotted):
        v = _get(data, dotted, where, False)
        if v is not None:
            used.add(dotted)
        return v
    e = opt("tech_param.DRAM.dynamic_energy_per_bit")
    if e is not None:
        e = _quantity(e, "DRAM.dynamic_energy_per_bit (J)", where, 0.0, 1e-9, lo_open=False)
        out.energy["hbm_pj_per_byte"] = e * 8 * 1e12
    lo = opt("sw_param.kernel_launch_overhead")
    if lo is not None:
        lo = _quantity(lo, "sw_param.kernel_launch_overhead (s)", where, 0.0, 1.0, lo_open=False)
        out.efficiency["launch_overhead_s"] = lo
    for key, field_ in (("tech_param.core.util", "flops_efficiency"),
                        ("tech_param.DRAM.util", "hbm_efficiency")):
        u = opt(key)
        if u is not None:
            out.efficiency[field_] = _quantity(u, key, where, 0.0, 1.0)
    DEFAULT.replace(**out.efficiency)          # the engine's own checks, too
    prec = opt("sw_param.precision")
    if prec is not None:
        prec = _whole(prec, "sw_param.precision (bytes per value)", where, 1, 8)
        if prec in (1, 2):
            out.scenario["weight_bits"] = 8 * prec
        else:
            used.discard("sw_param.precision")     # no 32/64-bit weights here: listed as ignored
    gpn = opt("system_hierarchy.num_devices_per_node")
    if gpn is not None:
        out.scenario["gpus_per_node"] = _whole(gpn, "system_hierarchy.num_devices_per_node", where)
    sp = data.get("scheduling_param") or {}
    if not isinstance(sp, dict):
        raise ValueError(f"{where}: scheduling_param={sp!r} must be a mapping")
    if sp.get("auto") is not None:
        used.add("scheduling_param.auto")
    if sp.get("dp") is not None:
        out.training["dp"] = _whole(sp["dp"], "scheduling_param.dp", where)
        used.add("scheduling_param.dp")
    if sp.get("lp") is not None:
        out.scenario["pp"] = out.training["pp"] = _whole(sp["lp"], "scheduling_param.lp", where)
        used.add("scheduling_param.lp")
    if sp.get("kp1") is not None:
        kp2 = _whole(sp.get("kp2") or 1, "scheduling_param.kp2", where)
        if kp2 == 1:
            out.scenario["tp"] = out.training["tp"] = _whole(sp["kp1"], "scheduling_param.kp1", where)
            used.update({"scheduling_param.kp1", "scheduling_param.kp2", "scheduling_param.t"})


def _model(data, where, name, register) -> YamlImport:
    from .models import ModelSpec, register_model, MODELS, MODEL_ALIASES
    mp = data["model_param"]
    if not isinstance(mp, dict):
        raise ValueError(f"{where}: 'model_param' must be a mapping")
    mode = str(mp.get("mode", "LLM"))
    used = {"model_param.mode", "name"}
    if mode.upper() == "GEMM":
        out = YamlImport(kind="gemm")
        for key in ("M", "K", "N"):
            v = _get(data, f"model_param.{key}", where)
            out.gemm[key.lower()] = _whole(v, f"model_param.{key}", where, 1, MAX_GEMM_DIM)
            used.add(f"model_param.{key}")
        if mp.get("backward") is not None:
            if not isinstance(mp["backward"], bool):
                raise ValueError(f"{where}: model_param.backward={mp['backward']!r} is not "
                                 f"allowed: must be true or false")
            out.gemm["backward"] = mp["backward"]
            used.add("model_param.backward")
        out.ignored = [k for k in _flatten(data) if k not in used]
        return out
    if mode.upper() not in ("LLM", "TRANSFORMER"):
        raise ValueError(f"{where}: model_param.mode={mode!r} is not supported (supported: "
                         f"LLM, Transformer, GEMM)")
    if not name:
        raise ValueError(f"{where}: give name= (or a top-level 'name' key) for the model")
    name = str(name).lower()
    if name in MODELS or name in MODEL_ALIASES:
        raise ValueError(f"{where}: name {name!r} is a built-in model preset; pass another name=")

    from .models import LIMITS, check_spec

    def req(key, field_=None):
        v = _get(data, f"model_param.{key}", where)
        used.add(f"model_param.{key}")
        hi = LIMITS[field_][1] if field_ else MAX_COUNT
        return _whole(v, f"model_param.{key}", where, 1, hi)

    h, heads = req("hidden_dim", "hidden"), req("num_heads", "heads")
    layers, vocab = req("num_layers", "layers"), req("vocab_size", "vocab")
    if mp.get("ffn_mult") is not None:
        mult = _quantity(mp["ffn_mult"], "model_param.ffn_mult", where, 0.0, 64.0)
        ffn = max(1, int(round(mult * h)))
        used.update({"model_param.ffn_mult", "model_param.ffn_dim"})
    elif mp.get("ffn_dim") is not None:
        ffn = req("ffn_dim", "ffn")
        used.add("model_param.ffn_mult")
    else:
        ffn = 4 * h
    kv = heads
    if mp.get("num_kv_heads") is not None:
        kv = req("num_kv_heads", "kv_heads")
        if kv > heads or heads % kv:
            raise ValueError(f"{where}: model_param.num_kv_heads={kv} is not allowed: must "
                             f"divide num_heads={heads}")
    if "num_kv_heads" in mp:
        used.add("model_param.num_kv_heads")
    spec = ModelSpec(name=name, layers=layers, hidden=h, heads=heads, kv_heads=kv, ffn=ffn,
                     vocab=vocab, gated_mlp=False, tie_embeddings=True,
                     source=f"{where} (research-model layout, GPT-style MLP)")
    check_spec(spec, where)
    out = YamlImport(kind="model", model=spec)
    if mp.get("batch_size") is not None:
        out.training["global_batch"] = req("batch_size")
    if mp.get("seq_len") is not None:
        out.training["seq_len"] = req("seq_len")
    if mp.get("N_PP") is not None:
        out.training["pp"] = out.scenario["pp"] = req("N_PP", "layers")
    out.ignored = [k for k in _flatten(data) if k not in used]
    if register:
        register_model(spec)
    return out


def gpu_from_yaml(path_or_dict, name: str | None = None, register: bool = True):
    """The GPU preset of a hardware YAML file (registered by default)."""
    out = load_yaml(path_or_dict, name, register)
    if out.kind != "hardware":
        raise ValueError(f"this YAML describes a {out.kind}, not hardware (no 'tech_param')")
    return out.gpu


def model_from_yaml(path_or_dict, name: str | None = None, register: bool = True):
    """The ModelSpec of a model YAML file (registered by default)."""
    out = load_yaml(path_or_dict, name, register)
    if out.kind != "model":
        raise ValueError(f"this YAML describes a {out.kind}, not an LLM model (model_param.mode)")
    return out.model
