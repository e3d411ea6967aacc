"""``WorkloadModel``: a live, observable serving workload + scheduler + SLO (traitlets only).

    wm = WorkloadModel(rate_rps=5, prompt_tokens=1000, output_tokens=200)
    wm.observe(lambda ch: ..., "version")       # one notification per accepted change
    wm.rate_rps = 8
    with wm.hold_trait_notifications():
        wm.scheduler, wm.ttft_slo_s = "chunked", 0.5
    wm.workload(), wm.serve_kwargs(), wm.slo()

Every change is checked by the serving package's own rules: a bad value raises
``TraitError`` naming the field, the value and what is allowed, sets ``error`` and leaves
the model as it was. Nothing here imports ipywidgets or bqplot.
"""
from __future__ import annotations

from traitlets import Bool, Float, HasTraits, Int, TraitError, Unicode, observe, validate

from .config import ServeConfig, parse_slo
from .workload import Workload, LogNormal

FIELDS = ("rate_rps", "arrival", "cv", "prompt_tokens", "prompt_sd", "output_tokens",
          "output_sd", "requests", "seed", "scheduler", "max_batch", "max_batched_tokens",
          "replicas", "kv_cache_fraction", "prefix_cache", "ttft_slo_s", "tpot_slo_s")


class WorkloadModel(HasTraits):
    rate_rps = Float(2.0, help="mean arrival rate, requests/s")
    arrival = Unicode("poisson", help="poisson | gamma | constant")
    cv = Float(1.0, help="gamma arrivals: coefficient of variation of the gaps")
    prompt_tokens = Int(1000, help="mean prompt length, tokens")
    prompt_sd = Float(0.0, help="> 0: lognormal prompt lengths with this sd")
    output_tokens = Int(200, help="mean output length, tokens")
    output_sd = Float(0.0, help="> 0: lognormal output lengths with this sd")
    requests = Int(500, help="requests simulated")
    seed = Int(0)
    scheduler = Unicode("continuous", help="continuous | chunked | static")
    max_batch = Int(256, help="sequences in flight per replica")
    max_batched_tokens = Int(8192, help="tokens per engine pass")
    replicas = Int(1)
    kv_cache_fraction = Float(0.9, help="share of each GPU's memory for weights, activations "
                              "and KV cache (trtllm-pytorch: share of what they leave)")
    prefix_cache = Bool(False)
    ttft_slo_s = Float(1.0, help="SLO: p90 time to first token, s")
    tpot_slo_s = Float(0.05, help="SLO: p99 time per output token, s")

    version = Int(0, read_only=True, help="bumped once per accepted change")
    error = Unicode("", help="message of the last rejected change; '' after a good one")

    def _values(self, **over):
        d = {f: getattr(self, f) for f in FIELDS}
        d.update(over)
        return d

    @staticmethod
    def check(d):
        """Raise ValueError (naming the field) unless the values ``d`` are usable."""
        _workload(d)
        ServeConfig(d["scheduler"], d["max_batch"], d["max_batched_tokens"], d["replicas"],
                    d["kv_cache_fraction"], bool(d["prefix_cache"]))
        parse_slo(_slo(d))

    @validate(*FIELDS)
    def _validate_field(self, proposal):
        name, value = proposal.trait.name, proposal.value
        try:
            self.check(self._values(**{name: value}))
        except ValueError as e:
            self.set_trait("error", str(e))
            raise TraitError(str(e)) from None
        return value

    @observe(*FIELDS)
    def _changed(self, change):
        self.error = ""
        self.set_trait("version", self.version + 1)

    # ---- what the simulation takes ---------------------------------------------------------
    def workload(self) -> Workload:
        return _workload(self._values())

    def serve_kwargs(self) -> dict:
        return dict(scheduler=self.scheduler, max_batch=self.max_batch,
                    max_batched_tokens=self.max_batched_tokens, replicas=self.replicas,
                    kv_cache_fraction=self.kv_cache_fraction, prefix_cache=self.prefix_cache)

    def slo(self) -> dict:
        return parse_slo(_slo(self._values()))


def _slo(d):
    return {"ttft_p90_s": d["ttft_slo_s"], "tpot_p99_s": d["tpot_slo_s"]}


def _workload(d) -> Workload:
    p = (LogNormal(d["prompt_tokens"], d["prompt_sd"]) if d["prompt_sd"] > 0
         else d["prompt_tokens"])
    o = (LogNormal(d["output_tokens"], d["output_sd"]) if d["output_sd"] > 0
         else d["output_tokens"])
    if d["prompt_sd"] < 0 or d["output_sd"] < 0:
        bad = "prompt_sd" if d["prompt_sd"] < 0 else "output_sd"
        raise ValueError(f"{bad}={d[bad]!r} is not allowed: must be >= 0")
    return Workload(rate_rps=d["rate_rps"], arrival=d["arrival"], cv=d["cv"], prompt=p,
                    output=o, requests=d["requests"], seed=d["seed"])
