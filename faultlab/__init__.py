"""faultlab: a reproducible fault lab for reverse-proxy chains.

The path a run takes: scenario file (`faultlab.model`) → each hop kind's real config (`faultlab.hops`)
→ a compose stack (`faultlab.infra`) → traffic, evidence from every hop's logs and a verdict per step
(`faultlab.run`), emitted as events for the views (`faultlab.output`). `faultlab.tools` holds diagnose,
fix and explain; `faultlab.cli` is the only module that knows the command line.

The public surface is small and re-exported here (imported on first use, so `import faultlab` stays
cheap); everything else is private and may change:

    plan = faultlab.load("413-body-size")            # validate a scenario (id or path)
    result = faultlab.run_scenario(plan, [faultlab.Recorder()])  # run it; handlers get the events
    with faultlab.open_stack(plan) as stack: ...     # its containers, torn down after the block

Errors: every failure a user can meet is a `LabError` (`InputError` exit 2, `EnvironmentError_` exit 3).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "load": "faultlab.model.scenario",
    "Plan": "faultlab.model.plan",
    "StepPlan": "faultlab.model.plan",
    "run_scenario": "faultlab.run.runner",  # (`faultlab.run` is the package of the run's layer)
    "open_stack": "faultlab.run.session",
    "Recorder": "faultlab.run.events",
    "Handler": "faultlab.run.events",
    "Event": "faultlab.run.events",
    "ScenarioResult": "faultlab.run.events",
    "StepResult": "faultlab.run.events",
    "LabError": "faultlab.errors",
    "InputError": "faultlab.errors",
    "EnvironmentError_": "faultlab.errors",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'faultlab' has no attribute {name!r}")
    module = import_module(_PUBLIC[name])
    return module.run if name == "run_scenario" else getattr(module, name)
