"""The scenario file format as a JSON Schema, generated from the same pydantic models that load it.

Knobs are validated per hop kind at load time (the kind of a hop comes from the topology's compose
file, which a JSON Schema cannot read), so here every hop's knobs must match the knobs of *some*
hop kind: an editor still completes the names and flags a knob no server has.
"""

from __future__ import annotations

import json
from typing import Any

from faultlab import paths
from faultlab.hops import HOP_KINDS
from faultlab.model.scenario import Scenario

SCHEMA_FILE = paths.SCHEMA / "scenario.schema.json"
SCHEMA_ID = "https://faultlab.invalid/schema/scenario.schema.json"  # a name, not a place to fetch from


def scenario_schema() -> dict[str, Any]:
    schema = Scenario.model_json_schema(mode="validation")
    defs = schema.setdefault("$defs", {})
    refs, changes = [], []
    for kind, hop_kind in sorted(HOP_KINDS.items()):
        name = "Knobs_" + kind.replace("-", "_")
        defs[name] = hop_kind.knobs.model_json_schema(mode="validation")
        defs[name]["description"] = f"knobs of a `{kind}` hop"
        refs.append({"$ref": f"#/$defs/{name}"})
        defs[f"Change_{name}"] = _unsettable(defs[name], kind)
        changes.append({"$ref": f"#/$defs/Change_{name}"})
    per_hop = {"type": "object", "description": "knobs per hop name (see the topology's compose file); each "
               "hop's kind decides which knobs it takes, checked when the scenario is loaded"}
    schema["properties"]["knobs"] = {**per_hop, "additionalProperties": {"anyOf": refs}, "default": {}}
    defs["Step"]["properties"]["change"] = {
        **per_hop, "additionalProperties": {"anyOf": changes}, "default": {},
        "description": "knobs changed from the previous step (they carry on); null unsets a knob"}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            **schema, "title": "faultlab scenario"}


def _unsettable(knobs: dict[str, Any], kind: str) -> dict[str, Any]:
    """A step's change to a hop: the same knobs, each of which (and each key of a mapping knob, such as an
    annotation) may also be null, which unsets it."""
    null = {"type": "null"}
    properties = {}
    for name, spec in knobs.get("properties", {}).items():
        if spec.get("type") == "object" and "additionalProperties" in spec:
            spec = {**spec, "additionalProperties": {"anyOf": [spec["additionalProperties"], null]}}
        properties[name] = {"anyOf": [spec, null]}
    return {**knobs, "properties": properties, "description": f"a change to the knobs of a `{kind}` hop"}


def render() -> str:
    return json.dumps(scenario_schema(), indent=2, sort_keys=False) + "\n"
