"""Scenario files: every shipped one loads, and each kind of mistake names its file and field."""

import pytest

from faultlab.errors import InputError
from faultlab.model import scenario


@pytest.mark.parametrize("scenario_id", sorted(scenario.available()))
def test_every_shipped_scenario_is_named_by_its_file_and_shows_a_failure(scenario_id):
    plan = scenario.load(scenario_id)
    assert plan.scenario.id == scenario_id, "the id inside the file and the file's name differ"
    assert any(step.role == "broken" for step in plan.steps), "no step shows what breaks (role: broken)"


def test_steps_accumulate_changes_and_report_the_hops_they_touch():
    plan = scenario.load("413-body-size")
    broken, chunked, host_only, annotation, both = plan.steps
    assert broken.changed == () and chunked.changed == ()
    assert host_only.changed == ("host-nginx",) and annotation.changed == ("ingress",)
    assert host_only.knobs["host-nginx"].client_max_body_size == "1024m"
    assert both.knobs["host-nginx"].client_max_body_size == "1024m"  # kept from the step before
    assert both.changed == ("ingress",)


def test_a_steps_traffic_override_applies_to_that_step_only():
    plan = scenario.load("413-body-size")
    assert [step.traffic.transfer for step in plan.steps] == ["content-length", "chunked", "content-length",
                                                              "content-length", "content-length"]


def test_unknown_scenario_suggests_close_names():
    with pytest.raises(InputError, match=r"unknown scenario '413-body'.*413-body-size"):
        scenario.load("413-body")


def _error(write_scenario, mutate=None, text=None) -> str:
    path = write_scenario(mutate, text=text)
    with pytest.raises(InputError) as caught:
        scenario.load(str(path))
    assert str(path) in caught.value.message
    return caught.value.message


def test_the_fixture_itself_is_valid(write_scenario):
    assert [step.step.name for step in scenario.load(str(write_scenario())).steps] == [
        "broken", "fix-host-only", "fix-both"]


def test_broken_yaml_names_the_line(write_scenario):
    assert "(line 2, column 1)" in _error(write_scenario, text="id: x\n\ttitle: tab-indented\n")


def test_unknown_top_level_field(write_scenario):
    assert "colour: unknown field" in _error(write_scenario, lambda d: d.update(colour="red"))


def test_wrong_type_names_the_step(write_scenario):
    def mutate(d):
        d["steps"][1]["expect"]["status"] = "four-thirteen"

    assert "steps[1] (fix-host-only).expect.status" in _error(write_scenario, mutate)


def test_unknown_hop_suggests_the_topology_hops(write_scenario):
    def mutate(d):
        d["steps"][1]["change"] = {"host-ngnix": {"client_max_body_size": "1024m"}}

    message = _error(write_scenario, mutate)
    assert "no hop 'host-ngnix'" in message and "did you mean 'host-nginx'" in message


def test_unknown_knob_of_a_hop_kind(write_scenario):
    def mutate(d):
        d["steps"][1]["change"] = {"host-nginx": {"client_max_body": "1024m"}}

    assert "host-nginx (nginx): client_max_body: unknown field" in _error(write_scenario, mutate)


def _settings_of(plan: scenario.Plan, step: str) -> dict[str, str]:
    from faultlab.run.runner import settings

    return {s.name: s.lab for s in settings(plan, plan.step_named(step))["ingress"]}


def test_a_misspelt_ingress_annotation_loads_like_the_controller_and_is_said_to_do_nothing(write_scenario):
    # ingress-nginx has no parser for an unknown name, so it has no effect; the lab says so, with a hint.
    def mutate(d):
        d["steps"][2]["change"] = {"ingress": {"annotations": {"nginx.ingress.kubernetes.io/proxy-body-sise": "1g"}}}

    plan = scenario.load(str(write_scenario(mutate)))
    shown = _settings_of(plan, "fix-both")["nginx.ingress.kubernetes.io/proxy-body-sise"]
    assert shown == "unknown to ingress-nginx: no effect (did you mean nginx.ingress.kubernetes.io/proxy-body-size?)"


def test_an_ingress_timeout_with_a_unit_is_kept_at_the_default_like_ingress_nginx(write_scenario):
    def mutate(d):
        annotation = "nginx.ingress.kubernetes.io/proxy-read-timeout"
        d["steps"][2]["change"] = {"ingress": {"annotations": {annotation: "600s"}}}

    plan = scenario.load(str(write_scenario(mutate)))
    shown = _settings_of(plan, "fix-both")
    assert shown["nginx.ingress.kubernetes.io/proxy-read-timeout"].startswith("invalid: ingress-nginx logs a warning")
    assert shown["proxy_read_timeout"] == "2s"  # 60 s story at 1/30: the default, not 600 s


def test_bad_regex_in_a_log_signature(write_scenario):
    def mutate(d):
        d["steps"][0]["expect"]["logs"][0]["match"] = "too large ("

    assert "not a regular expression" in _error(write_scenario, mutate)


def test_unknown_topology(write_scenario):
    assert "unknown topology 'mesh'" in scenario_error_text(write_scenario, lambda d: d.update(topology="mesh"))


def scenario_error_text(write_scenario, mutate) -> str:
    path = write_scenario(mutate)
    with pytest.raises(InputError) as caught:
        scenario.load(str(path))
    return caught.value.message


def test_unknown_step_name_is_refused_with_the_list_of_steps(write_scenario):
    plan = scenario.load(str(write_scenario()))
    with pytest.raises(InputError) as caught:
        plan.step_named("fix-bot")
    assert "Did you mean 'fix-both'" in caught.value.message
    assert "broken, fix-host-only, fix-both" in caught.value.tip


def test_every_shipped_scenario_tells_a_story_with_roles() -> None:
    """`lab fix` and `lab explain` read the roles: each scenario shows a failure and what ends it."""
    for scenario_id in scenario.available():
        roles = [step.step.role for step in scenario.load(scenario_id).steps]
        assert roles[0] == "broken", scenario_id
        assert {"fix", "variant"} & set(roles), scenario_id


def test_a_steps_traffic_keeps_its_values_as_written(tmp_path):
    # Regression: a step's traffic was merged through the display form, so 0.0004 s became "0ms" → 0 and
    # the load engine failed at run time with a bare ValueError.
    source = scenario.available()["499-client-abort"].read_text().replace("give_up_after: 3s", "give_up_after: 0.0004")
    own = tmp_path / "mine.yaml"
    own.write_text(source)
    plan = scenario.load(str(own))
    assert {step.traffic.give_up_after for step in plan.steps} == {0.0004}


def test_the_time_scale_is_typed_end_to_end():
    from faultlab.units import TimeScale

    plan = scenario.load("504-read-timeout")
    assert isinstance(plan.scenario.time_scale, TimeScale) and plan.scale == plan.scenario.time_scale
    assert scenario.load("504-read-timeout", time_scale=TimeScale.parse("1")).scale.ratio == 1


def test_a_steps_traffic_of_another_kind_replaces_the_scenarios():
    plan = scenario.load("504-read-timeout")
    uploads, get = plan.steps[:-1], plan.steps[-1]
    assert {step.traffic.kind for step in uploads} == {"upload"}
    assert (get.traffic.kind, get.traffic.method, get.traffic.path) == ("load", "GET", "/slow")
    assert get.traffic.app_work == 300.0 and not hasattr(get.traffic, "size")


def test_bursty_traffic_and_a_slow_share_read_in_story_time():
    plan = scenario.load("502-keepalive")
    quiet = plan.step_named("quiet-hours").traffic
    assert quiet.pause is not None and (quiet.pause.min, quiet.pause.max) == (57.0, 66.0)
    step = plan.step_named("quiet-hours")
    assert str(plan.scale) != str(step.scale) and step.scale.lab_s(60) == 2.0  # its own scale, 1/30
    assert "up to 60 bursts 57s–66s (story) = 1.9s–2.2s (lab) apart" in quiet.describe(step.scale)
    orders = scenario.load("502-retry-duplicate-post")
    traffic = orders.steps[0].traffic
    assert traffic.app_slow is not None and traffic.app_slow.share == 0.25
    assert "app works 100ms per request (25% of requests 3s, replays drawn)" in traffic.describe(orders.scale)


def test_a_pause_runs_forwards(write_scenario):
    def mutate(d):
        d["steps"][0]["traffic"] = {"kind": "load", "batches": 3, "pause": {"min": "5s", "max": "1s"}}
    assert "max (1s) is below min (5s)" in _error(write_scenario, mutate)


def test_a_hop_has_as_many_replicas_as_its_compose_service_deploys():
    from faultlab.model.topology import load_topology

    assert [hop.replicas for hop in load_topology("ingress-replicas").hops] == [1, 2]
    assert {hop.replicas for hop in load_topology("upload-chain").hops} == {1}


def _deploy_error(tmp_path, action: dict) -> str:
    import yaml

    from faultlab import paths

    document = yaml.safe_load((paths.SCENARIOS / "502-deploy-drain.yaml").read_text())
    document["steps"][0]["actions"] = [action]
    path = tmp_path / "deploy.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(InputError) as caught:
        scenario.load(str(path))
    return caught.value.message


def test_a_deploys_actions_read_in_story_time_and_in_order():
    plan = scenario.load("502-deploy-drain")
    fix = plan.step_named("drain-then-term").step.actions
    assert [(a.at, a.do, a.hop, a.replica) for a in fix] == [
        (10.0, "drain", "app", 1), (20.0, "signal", "app", 1), (30.0, "start", "app", 1), (40.0, "rejoin", "app", 1)]
    assert fix[1].sent_signal == "TERM" and "SIGTERM to app #1" in fix[1].describe()


@pytest.mark.parametrize(("action", "message"), [
    ({"at": "1s", "do": "signal", "hop": "ap"}, "no hop 'ap'"),
    ({"at": "1s", "do": "start", "hop": "app", "replica": 3}, "runs 2 replica(s), there is no replica 3"),
    ({"at": "1s", "do": "drain", "hop": "ingress"}, "needs a proxy in front of 'ingress'"),
    ({"at": "1s", "do": "start", "hop": "app", "signal": "KILL"}, "`signal` goes with `do: signal`"),
    ({"at": "-1s", "do": "start", "hop": "app"}, "actions[0].at"),
    ({"at": "1s", "do": "explode", "hop": "app"}, "actions[0].do"),
])
def test_an_action_the_stack_cannot_do_is_refused_by_name(tmp_path, action, message):
    text = _deploy_error(tmp_path, action)
    assert message in text and "steps[0] (broken)" in text


def test_a_memory_limit_cannot_be_lifted_by_a_later_step_but_can_be_raised(write_scenario):
    def limited(lift: bool):
        def mutate(d):
            d["knobs"] = {"app": {"memory_limit": "128MiB"}}
            d["steps"][2]["change"]["app"] = {"memory_limit": None if lift else "512MiB"}
        return mutate

    assert "memory limit of an earlier step cannot be lifted" in _error(write_scenario, limited(True))
    plan = scenario.load(str(write_scenario(limited(False))))
    assert [step.knobs["app"].memory_limit_bytes() for step in plan.steps] == [128 << 20, 128 << 20, 512 << 20]


def _migration(tmp_path, mutate):
    import yaml

    document = yaml.safe_load(scenario.available()["ingress-migration"].read_text())
    mutate(document)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return str(path)


def test_a_twin_runs_the_same_steps_and_knobs_on_its_own_topology_judged_by_each_steps_twin():
    plan = scenario.load("ingress-migration")
    twin = plan.twin
    assert twin is not None and twin.topology.name == "traefik-ingress" and twin.twin is None
    assert [s.name for s in twin.steps] == [s.name for s in plan.steps]
    assert [s.knobs["ingress"].annotations for s in twin.steps] == [s.knobs["ingress"].annotations for s in plan.steps]
    assert (plan.steps[0].step.expect.status, twin.steps[0].step.expect.status) == (413, 200)
    assert [s.traffic for s in twin.steps] == [s.traffic for s in plan.steps]


def test_a_twin_needs_every_steps_twin_and_the_same_hop_names(tmp_path):
    def drop_one(d):
        del d["steps"][1]["twin"]

    with pytest.raises(InputError, match="every step says what it shows there.*body-size-buffered"):
        scenario.load(_migration(tmp_path, drop_one))

    def other_chain(d):
        d["twin"]["topology"] = "upload-chain"

    with pytest.raises(InputError, match="twin.topology: 'upload-chain' has the hops host-nginx, ingress, app"):
        scenario.load(_migration(tmp_path, other_chain))

    def no_twin(d):
        del d["twin"]

    with pytest.raises(InputError, match="have a `twin` expectation, but the scenario has no `twin`"):
        scenario.load(_migration(tmp_path, no_twin))
