"""kernel_model.serving: many requests at once on the closed-form engine.

    import kernel_model as km
    from kernel_model.serving import Workload, LogNormal, serve, capacity, plan_capacity
    sc = km.Scenario(model="llama-3-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8)
    res = serve(sc, Workload(rate_rps=10, prompt=LogNormal(1000, 500), output=200,
                             requests=2000), scheduler="chunked", slo="ttft_p90=1,tpot_p99=0.05")
    res.requests, res.steps, res.summary

Modules (laid out like a discrete-event serving simulator): ``workload`` (arrivals and
lengths), ``entities`` (Trace, ServingResult), ``config`` (options, SLOs, KV capacity),
``predictor`` (the time of one mixed pass, from the engine's closed form), ``engine`` (one
replica's scheduler loop), ``simulator`` (``serve``), ``metrics`` (summary), ``capacity``
(``capacity``, ``plan_capacity``, ``max_throughput``, ``validate_saturation``).
numpy / pandas only.
"""
from .predictor import mixed_step, StepModel
from .workload import Workload, Uniform, LogNormal, Empirical, ARRIVALS
from .entities import Trace, ServingResult
from .config import ServeConfig, SCHEDULERS, parse_slo, DEFAULT_SLO
from .simulator import serve
from .saturation import max_throughput, validate_saturation
from .capacity import capacity, CapacityResult
from .planner import plan_capacity

__all__ = ["mixed_step", "StepModel", "Workload", "Uniform", "LogNormal", "Empirical",
           "ARRIVALS", "Trace", "ServingResult", "ServeConfig", "SCHEDULERS", "parse_slo",
           "DEFAULT_SLO", "serve", "max_throughput", "validate_saturation", "capacity",
           "CapacityResult", "plan_capacity"]
