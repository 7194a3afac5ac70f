"""Every config snippet `lab fix` prints, checked by the real tool in the lab's own images.

nginx: `nginx -t` on a minimal nginx.conf around the snippet. Ingress: the manifest against the
Kubernetes schema, and `nginx -t` on what the lab's ingress-nginx mapping makes of its annotations.
gunicorn: `--check-config --print-config` with the conf file and with the flags, and the values gunicorn
prints must be the snippet's. uwsgi: strict mode (an unknown option is fatal), `--get` must read back each
value, and uwsgi must start with it. traefik: it must load the static file and the file provider's
dynamic file without an error, and report each snippet's value in the configuration it loaded.

Besides the fixes, the wrong fixes' config is checked too: it exercises more of every exporter (the
retry middleware, traefik's entry point timeouts). One throwaway container per tool checks every
file, with no network, labelled like the lab's own so `lab clean` finds it after a killed run.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kubernetes_validate
import pytest
import yaml

from faultlab.hops import HOP_KINDS, RenderContext, nginx
from faultlab.hops.base import MEMORY_TITLE, STORY, Snippet
from faultlab.hops.gunicorn import assignments
from faultlab.hops.ingress import CONFIGMAP_TITLE, PREFIX, IngressKnobs
from faultlab.hops.uwsgi import options
from faultlab.model import scenario
from faultlab.tools import fix as export
from faultlab.tools.fix import step_snippets
from faultlab.units import parse_size

from .box import BOX, run, toolbox

pytestmark = pytest.mark.engine

@dataclass(frozen=True)
class Case:
    label: str  # scenario:step
    snippets: tuple[Snippet, ...]

    def of(self, target: str) -> list[Snippet]:
        return [snippet for snippet in self.snippets if snippet.format == target]


def _cases() -> list[Case]:
    cases = []
    for scenario_id in scenario.available():
        plan = scenario.load(scenario_id)
        cases += [Case(f"{scenario_id}:{fix.step}", fix.snippets) for fix in export.build(plan).fixes]
        cases += [Case(f"{scenario_id}:{step.step.name} (wrong fix)", step_snippets(plan, step))
                  for step in plan.steps if step.step.role == "wrong-fix"]
    return cases


CASES = _cases()


def _snippets(target: str) -> list[tuple[str, Snippet]]:
    return [(case.label, snippet) for case in CASES for snippet in case.of(target)]


def test_every_scenario_with_a_fix_has_a_snippet_checked_here():
    for scenario_id in scenario.available():
        report = export.build(scenario.load(scenario_id))
        assert all(fix.snippets for fix in report.fixes), scenario_id


@pytest.mark.parametrize("label,snippet", _snippets("deployment"), ids=[label for label, _ in _snippets("deployment")])
def test_a_deployment_fix_is_a_valid_apps_v1_deployment_that_says_what_the_lab_ran(label, snippet):
    manifest = yaml.safe_load(snippet.text)
    kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
    pod = manifest["spec"]["template"]["spec"]
    if snippet.title == MEMORY_TITLE:  # the limit the lab gave the container, as a request and a limit
        scenario_id, name = label.removesuffix(" (wrong fix)").split(":")
        step = next(step for step in scenario.load(scenario_id).steps if step.name == name)
        limit = step.knobs[snippet.hop].memory_limit_bytes()
        resources = pod["containers"][0]["resources"]
        assert parse_size(resources["limits"]["memory"].replace("i", "iB")) == limit
        assert resources["requests"] == resources["limits"]
        return
    command = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep" and int(command[1]) >= 1
    assert pod["terminationGracePeriodSeconds"] > int(command[1])


# nginx and the Ingress ------------------------------------------------------------------------------

def _ingress_conf(manifest: dict[str, Any]) -> str:
    if manifest["kind"] == "ConfigMap":
        knobs = IngressKnobs(configmap=manifest["data"])  # refuses a key ingress-nginx does not have
        assert len(knobs.effective()[1]) == len(manifest["data"])
    else:
        knobs = IngressKnobs(annotations=manifest["metadata"]["annotations"])
        _, explicit = knobs.effective()
        # Every annotation is mapped to a directive, or is a value ingress-nginx refuses (a wrong fix's trap).
        assert len(explicit) + len(knobs.rejected()) == len([key for key in knobs.annotations
                                                             if key.startswith(PREFIX)])
    # No network in the check container: an upstream by IP, as nginx -t resolves names.
    ctx = RenderContext("ingress", 8080, "127.0.0.1:8000", STORY)
    return HOP_KINDS["ingress-nginx"].render(knobs, ctx)["nginx.conf"]


@pytest.fixture(scope="module")
def nginx_files() -> dict[str, tuple[str, str]]:
    files = {}
    for index, (label, snippet) in enumerate(_snippets("nginx")):
        files[f"nginx-{index}.conf"] = (label, f"pid /tmp/nginx-{index}.pid;\nevents {{}}\n{snippet.text}")
    for index, (label, snippet) in enumerate(_snippets("ingress")):
        files[f"ingress-{index}.conf"] = (label, _ingress_conf(yaml.safe_load(snippet.text)))
    return files


def test_nginx_and_ingress_snippets_pass_nginx_t(client, image_tags, nginx_files):
    assert any(name.startswith("nginx-") for name in nginx_files) and any(
        name.startswith("ingress-") for name in nginx_files)
    with toolbox(client, image_tags["nginx"], {name: text for name, (_, text) in nginx_files.items()}) as box:
        for name, (label, text) in nginx_files.items():
            code, _, err = run(box, ["nginx", "-t", "-c", f"{BOX}/{name}"])
            assert code == 0 and "syntax is ok" in err, f"{label}: nginx -t rejected\n{text}\n{err}"


# The buffer sizes the lab refuses at load are the ones nginx -t refuses: header buffer, body buffers and
# busy size in both families, each combination nginx's merge checks tell apart.
BUFFER_CASES = [
    ("proxy", {"buffer_size": "16k"}), ("proxy", {"buffer_size": "14k"}),
    ("proxy", {"buffer_size": "16k", "buffers": "4 16k"}),
    ("proxy", {"buffer_size": "16k", "busy_buffers_size": "16k"}),
    ("proxy", {"buffers": "1 4k"}), ("proxy", {"buffers": "2 4k"}),
    ("proxy", {"buffer_size": "16k", "buffers": "8 16k", "busy_buffers_size": "8k"}),
    ("uwsgi", {"buffer_size": "32k"}), ("uwsgi", {"buffer_size": "32k", "buffers": "8 32k"}),
    ("uwsgi", {"busy_buffers_size": "64k"}),
]


def test_the_lab_refuses_exactly_the_buffer_sizes_nginx_t_refuses(client, image_tags):
    files, expected = {}, {}
    for index, (family, values) in enumerate(BUFFER_CASES):
        directives = " ".join(f"{family}_{name} {value};" for name, value in values.items())
        name = f"buffers-{index}.conf"
        files[name] = f"pid /tmp/{name}.pid;\nevents {{}}\nhttp {{ server {{ location / {{ {directives} }} }} }}\n"
        knobs = nginx.NginxKnobs.model_construct(upstream_protocol="http" if family == "proxy" else "uwsgi",
                                                 **{f"{family}_{key}": value for key, value in values.items()})
        expected[name] = nginx.buffers_problem(knobs)
    with toolbox(client, image_tags["nginx"], files) as box:
        for name, problem in expected.items():
            code, _, err = run(box, ["nginx", "-t", "-c", f"{BOX}/{name}"])
            if problem is None:
                assert code == 0, f"{files[name]}: the lab accepts it, nginx -t refused\n{err}"
            else:  # the lab's message starts with nginx's own words
                assert code != 0 and problem.split(" (")[0] in err, f"{files[name]}: lab: {problem!r}; nginx:\n{err}"


@pytest.mark.parametrize("label,snippet", _snippets("ingress"), ids=[label for label, _ in _snippets("ingress")])
def test_ingress_manifest_is_a_valid_networking_v1_ingress_or_v1_configmap(label, snippet):
    manifest = yaml.safe_load(snippet.text)
    kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
    values = manifest["data"] if manifest["kind"] == "ConfigMap" else manifest["metadata"]["annotations"]
    assert all(isinstance(value, str) for value in values.values())
    assert manifest["kind"] == ("ConfigMap" if snippet.title == CONFIGMAP_TITLE else "Ingress")


# gunicorn and uwsgi ---------------------------------------------------------------------------------

def _printed(output: str) -> dict[str, str]:
    return {name.strip(): value.strip() for name, _, value in
            (line.partition(" = ") for line in output.splitlines() if " = " in line)}


def _gunicorn_cases() -> list[tuple[str, Snippet, Snippet]]:
    pairs = []
    for case in CASES:
        snippets = case.of("gunicorn")
        conf = [s for s in snippets if s.title == "gunicorn.conf.py"]
        command = [s for s in snippets if s.title == "gunicorn command line"]
        if conf and command:
            pairs.append((case.label, conf[0], command[0]))
    return pairs


def _uwsgi_ini(snippet: Snippet, port: int) -> str:
    listens = {"http", "http-socket", "socket"} & set(options(snippet.text))
    extra = "" if listens else f"http = 127.0.0.1:{port}\n"
    return (f"{snippet.text}strict = true\nmaster = true\ndie-on-term = true\n{extra}"
            f"module = faultapp:app\nchdir = {BOX}/apps\n")


def test_gunicorn_reads_back_every_value_from_the_conf_file_and_the_flags(client, image_tags):
    cases = _gunicorn_cases()
    assert cases
    files = {f"gunicorn-{i}.conf.py": conf.text for i, (_, conf, _) in enumerate(cases)}
    check = ["--check-config", "--print-config"]  # loads the app too, then exits
    with toolbox(client, image_tags["python"], files) as box:
        for index, (label, conf, command) in enumerate(cases):
            expected = {name: str(ast.literal_eval(value)) for name, value in assignments(conf.text).items()}
            assert expected, f"{label}: no setting in\n{conf.text}"
            code, out, err = run(box, ["gunicorn", *check, "-c", f"{BOX}/gunicorn-{index}.conf.py", "faultapp:app"],
                                 workdir=f"{BOX}/apps")
            assert code == 0, f"{label}: gunicorn rejected the conf file\n{conf.text}\n{err}"
            # gunicorn ignores unknown names in a conf file, so only its printout proves a name was read.
            assert {name: _printed(out).get(name) for name in expected} == expected, label
            argv = shlex.split(command.text, comments=True)
            code, out, err = run(box, [argv[0], *check, *argv[1:]], workdir=f"{BOX}/apps")
            assert code == 0, f"{label}: gunicorn rejected the flags {command.text}\n{err}"
            assert {name: _printed(out).get(name) for name in expected} == expected, label


def test_uwsgi_reads_back_every_value_and_starts_with_it(client, image_tags):
    cases = _snippets("uwsgi")
    assert cases
    files = {f"uwsgi-{i}.ini": _uwsgi_ini(snippet, 9100 + i) for i, (_, snippet) in enumerate(cases)}
    with toolbox(client, image_tags["python"], files) as box:
        for index, (label, snippet) in enumerate(cases):
            expected = options(snippet.text)
            gets = [part for name in expected for part in ("--get", name)]
            code, out, err = run(box, ["uwsgi", "--ini", f"{BOX}/uwsgi-{index}.ini", *gets])
            assert code == 0, f"{label}: uwsgi rejected\n{snippet.text}\n{err}"
            assert out.split() == list(expected.values()), f"{label}: uwsgi read back {out.split()}"
        # A real start, all at once: strict mode and every value must survive uwsgi's own startup.
        starts = "; ".join(f"(timeout -s INT 3 uwsgi --ini uwsgi-{i}.ini > uwsgi-{i}.log 2>&1 &)"
                           for i in range(len(cases)))
        run(box, ["bash", "-c", f"{starts}; sleep 3.5"])
        for index, (label, snippet) in enumerate(cases):
            _, log, _ = run(box, ["cat", f"uwsgi-{index}.log"])
            assert "spawned uWSGI worker 1" in log, f"{label}: uwsgi did not start with\n{snippet.text}\n{log}"
            assert "unknown config directive" not in log and "strict-mode" not in log, log


# traefik --------------------------------------------------------------------------------------------

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def _seconds(text: str) -> float | None:
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _GO_UNITS[unit] for number, unit in parts)


def _same(expected: Any, loaded: Any) -> bool:
    # traefik reports durations Go's way ("1m0s" for "60s").
    if isinstance(expected, str) and isinstance(loaded, str) and _seconds(expected) is not None:
        return _seconds(expected) == _seconds(loaded)
    return expected == loaded


def _leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    else:
        yield path, node


def _at(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def test_traefik_loads_every_snippet_and_reports_its_values(client, image_tags):
    cases = [case for case in CASES if case.of("traefik")]
    assert cases
    files = {}
    for index, case in enumerate(cases):
        static = {"entryPoints": {"web": {"address": f":{18000 + index}"}},
                  "providers": {"file": {"filename": f"{BOX}/dynamic-{index}.yml", "watch": False}},
                  "log": {"level": "DEBUG", "format": "json"}}
        dynamic = {"http": {"routers": {"app": {"rule": "PathPrefix(`/`)", "entryPoints": ["web"], "service": "app"}},
                            "services": {"app": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:8000"}]}}}}}
        for snippet in case.of("traefik"):
            if "static" in snippet.title:
                static = _merge(static, yaml.safe_load(snippet.text))
            else:
                dynamic = _merge(dynamic, yaml.safe_load(snippet.text))
        files[f"traefik-{index}.yml"] = yaml.safe_dump(static)
        files[f"dynamic-{index}.yml"] = yaml.safe_dump(dynamic)
    with toolbox(client, image_tags["traefik"], files) as box:
        starts = "; ".join(f"(timeout 60 traefik --configFile={BOX}/traefik-{i}.yml > {BOX}/traefik-{i}.log 2>&1 &)"
                          for i in range(len(cases)))
        # Every traefik has loaded its file provider's config (or 50 s passed): a dozen of them starting
        # at once on 2 cores take longer than the one second each takes alone.
        from_file = "grep -q '\"providerName\":\"file\"'"
        loaded = " && ".join(f"grep 'Configuration received' {BOX}/traefik-{i}.log | {from_file}"
                             for i in range(len(cases)))
        run(box, ["bash", "-c", f"{starts}; for _ in $(seq 100); do {loaded} && break; sleep 0.5; done"])
        for index, case in enumerate(cases):
            _, log, _ = run(box, ["cat", f"traefik-{index}.log"])
            lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
            errors = [line for line in lines if line.get("level") in ("error", "fatal", "panic")]
            assert not errors, f"{case.label}: traefik reported {errors}"
            assert any("staticConfiguration" in line for line in lines), f"{case.label}: {log}"
            loaded_static = next(line["staticConfiguration"] for line in lines if "staticConfiguration" in line)
            loaded_dynamic = next(line["config"] for line in lines if line.get("providerName") == "file"
                                  and line.get("message") == "Configuration received")
            for snippet in case.of("traefik"):
                loaded = loaded_static if "static" in snippet.title else loaded_dynamic
                for path, value in _leaves(yaml.safe_load(snippet.text)):
                    seen = _at(loaded, path)
                    assert _same(value, seen), f"{case.label}: {'.'.join(path)}: {value!r} written, {seen!r} loaded"


# HAProxy and uvicorn --------------------------------------------------------------------------------

def _haproxy_cfg(snippet: Snippet) -> str:
    """The snippet's sections in a whole config `haproxy -c` accepts: the lab's upstream name does not
    resolve in a container without network, so the server points at 127.0.0.1."""
    sections = {}
    for block in snippet.text.strip().split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#")]
        sections[lines[0]] = "\n".join(lines[1:])
    backend = sections.get("backend app", "    server app1 app:8000").replace(" app:8000", " 127.0.0.1:8000")
    return (f"global\n    log stdout format raw local0\ndefaults\n    mode http\n    timeout connect 5s\n"
            f"    timeout client 5s\n    timeout server 5s\n{sections.get('defaults', '')}\n"
            f"frontend lb\n    bind :8080\n    default_backend app\nbackend app\n{backend}\n")


def test_haproxy_accepts_every_snippet(client, image_tags):
    cases = _snippets("haproxy")
    assert cases
    files = {f"haproxy-{i}.cfg": _haproxy_cfg(snippet) for i, (_, snippet) in enumerate(cases)}
    with toolbox(client, image_tags["haproxy"], files) as box:
        for index, (label, _) in enumerate(cases):
            code, out, err = run(box, ["haproxy", "-c", "-f", f"{BOX}/haproxy-{index}.cfg"])
            assert code == 0, f"{label}: haproxy rejected\n{files[f'haproxy-{index}.cfg']}\n{out}{err}"
            # A later directive overrides an earlier one of the same name, so the snippet's value is the one in force.
            assert "[WARNING]" not in out + err, f"{label}: haproxy warned\n{out}{err}"


# uvicorn's own command-line parser reads the flags back (uvicorn has no --print-config).
_UVICORN_PARAMS = ("import sys; from uvicorn.main import main; "
                   "print(dict(main.make_context('uvicorn', sys.argv[1:]).params))")


def test_uvicorn_parses_every_flag_to_the_snippets_value(client, image_tags):
    cases = _snippets("uvicorn")
    assert cases
    with toolbox(client, image_tags["python"], {}) as box:
        for label, snippet in cases:
            argv = shlex.split(snippet.text, comments=True)
            assert argv[0] == "uvicorn", label
            code, out, err = run(box, ["python3", "-c", _UVICORN_PARAMS, *argv[1:]], workdir=f"{BOX}/apps")
            assert code == 0, f"{label}: uvicorn rejected {snippet.text}\n{err}"
            params = ast.literal_eval(out.strip())
            flags = dict(zip(argv[1:-1:2], argv[2:-1:2], strict=True))
            for flag, value in flags.items():
                assert str(params[flag.removeprefix("--").replace("-", "_")]) == value, f"{label}: {flag}"
            assert params["app"] == argv[-1], label
