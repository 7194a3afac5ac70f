"""faultlab: a reproducible fault lab for reverse-proxy chains.

The path a run takes: scenario file (`lab.scenario`) → rendered configs (`lab.render`) → a compose
stack (`lab.stack`) → traffic (`lab.traffic`) → evidence from every hop's logs (`lab.evidence`) →
a verdict per step (`lab.verdict`), emitted as events (`lab.events`) for the reports (`lab.report`).
"""

__version__ = "0.1.0"
