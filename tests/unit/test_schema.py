"""The published JSON Schema: generated from the models, never stale, and true to the shipped scenarios."""

import copy

import jsonschema
import pytest
import yaml

from faultlab.model import scenario, schema

from ..conftest import ROOT


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    published = schema.SCHEMA_FILE.read_text()
    assert published == schema.render(), "schema/scenario.schema.json is stale: run `lab schema --out " \
        "schema/scenario.schema.json`"
    document = schema.scenario_schema()
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


@pytest.mark.parametrize("scenario_id", sorted(scenario.available()))
def test_every_shipped_scenario_is_valid_against_the_published_schema(validator, scenario_id):
    document = yaml.safe_load(scenario.available()[scenario_id].read_text())
    assert [error.message for error in validator.iter_errors(document)] == []


def test_the_example_of_a_users_own_scenario_is_valid(validator):
    document = yaml.safe_load((ROOT / "examples" / "my-scenario.yaml").read_text())
    assert [error.message for error in validator.iter_errors(document)] == []
    scenario.load(str(ROOT / "examples" / "my-scenario.yaml"))


def test_the_schema_flags_what_the_loader_refuses(validator):
    good = yaml.safe_load(scenario.available()["504-read-timeout"].read_text())
    typo_knob = copy.deepcopy(good)
    typo_knob["knobs"]["host-nginx"]["proxy_read_timout"] = "600s"
    typo_field = copy.deepcopy(good)
    typo_field["steps"][0]["expekt"] = typo_field["steps"][0].pop("expect")
    bad_duration = copy.deepcopy(good)
    bad_duration["knobs"]["host-nginx"]["proxy_read_timeout"] = "ten minutes"
    for document in (typo_knob, typo_field, bad_duration):
        assert list(validator.iter_errors(document)), document
