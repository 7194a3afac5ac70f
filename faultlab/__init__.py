"""faultlab: a reproducible fault lab for reverse-proxy chains.

The path a run takes: scenario file (`faultlab.model`) → each hop kind's real config (`faultlab.hops`)
→ a compose stack (`faultlab.infra`) → traffic, evidence from every hop's logs and a verdict per step
(`faultlab.run`), emitted as events for the views (`faultlab.output`). `faultlab.tools` holds diagnose,
fix and explain; `faultlab.cli` is the only module that knows the command line.
"""

__version__ = "0.1.0"
