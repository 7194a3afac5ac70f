"""`lab`: thin argument parsing around the one run path. Heavy imports stay inside the commands."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from faultlab.errors import LabError

if TYPE_CHECKING:
    from faultlab.infra.stack import Kept
    from faultlab.run.events import Handler
    from faultlab.tools.practice import Workspace
    from faultlab.units import TimeScale


PROG = "faultlab"


class Commands:
    """How this command line spells the next steps the views suggest (output.words.Hints)."""

    def run(self, target: str, step: str | None = None) -> str:
        return f"{PROG} run {target}" + (f" --step {step}" if step else "")

    def fix(self, target: str, fmt: str | None = None, choices: Sequence[str] = ()) -> str:
        if choices:
            return f"{PROG} fix {target} --format {{{','.join(choices)}}}"
        return f"{PROG} fix {target}" + (f" --format {fmt}" if fmt else "")

    def explain(self, target: str) -> str:
        return f"{PROG} explain {target}"

    def report(self, target: str, step: str | None = None, directory: str = "out/") -> str:
        return f"{self.run(target, step)} --report {directory}"


HINTS = Commands()


def _say(text: str) -> None:
    print(f"faultlab: {text}", file=sys.stderr, flush=True)


def _out(text: str, end: str = "\n") -> None:
    """Print what came from scenario files or logs with its control characters made visible."""
    from faultlab.output.printable import printable

    print(printable(text), end=end)


def cmd_list(args: argparse.Namespace) -> int:
    from faultlab.model import catalogue

    entries = catalogue.entries()
    width = max((len(entry.id) for entry in entries), default=10)
    _out(f"{'scenario':<{width}}  steps  title")
    for entry in entries:
        if entry.problem is None:
            _out(f"{entry.id:<{width}}  {entry.steps:>5}  {entry.title}")
        else:
            _out(f"{entry.id:<{width}}      ?  (cannot be read: {entry.problem})")
    _out(f"\nRead one: {PROG} explain <scenario>   Run one: {PROG} run <scenario>   (or: make scenario-<scenario>)")
    broken = [entry for entry in entries if entry.problem is not None]
    if broken:
        print(f"{len(broken)} scenario file(s) cannot be read; `{PROG} run` names the problem of each.",
              file=sys.stderr)
    return 0


def cmd_completion(args: argparse.Namespace) -> int:
    import shtab

    print(shtab.complete(build_parser(), shell=args.shell), end="")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from faultlab.model import scenario
    from faultlab.run import runner

    plan = scenario.load(args.scenario, time_scale=_time_scale(args.time_scale))
    if args.step is not None:
        plan.step_named(args.step)  # a typo fails before any container starts
    if args.repeat < 1:
        raise _usage("--repeat takes a number of runs, 1 or more")
    results = []
    for number in range(1, args.repeat + 1):
        results.append(runner.run(plan, _handlers(args, number), only_step=args.step))
    if args.repeat > 1 and not args.json:
        from faultlab.output.terminal import print_repeats

        print_repeats(results)
    return 0 if all(result.ok for result in results) else 1


def _handlers(args: argparse.Namespace, number: int) -> list[Handler]:
    """The views of one run: the terminal or --json, and with --report DIR the HTML/markdown report
    (with --repeat N, one per run in DIR/run-<n>)."""
    handlers: list[Handler] = []
    if args.json:
        from faultlab.output.json import JsonReport

        handlers.append(JsonReport(sys.stdout))
    else:
        from faultlab.output.terminal import TerminalReport

        handlers.append(TerminalReport(quiet=args.quiet, hints=HINTS))
    if args.report:
        from faultlab.output.html import HtmlReport

        directory = Path(args.report) / f"run-{number}" if args.repeat > 1 else Path(args.report)
        try:
            directory.mkdir(parents=True, exist_ok=True)  # a bad path fails before any container starts
        except OSError as exc:
            raise _usage(f"--report: cannot write to {directory}: {exc.strerror or exc}") from None
        if not os.access(directory, os.W_OK):
            raise _usage(f"--report: cannot write to {directory}: permission denied")
        handlers.append(HtmlReport(directory, lambda page: _say(f"report written: {page} (and report.md)"), HINTS))
    return handlers


def cmd_render(args: argparse.Namespace) -> int:
    from faultlab import paths
    from faultlab.hops import HOP_KINDS, RenderContext
    from faultlab.model import scenario

    first = scenario.load(args.scenario, time_scale=_time_scale(args.time_scale))
    # A scenario with a twin topology renders both: the twin into a folder of its own name.
    for plan, out in ((first, Path(args.out)), (first.twin, Path(args.out) / "twin")):
        if plan is None:
            continue
        step = plan.step_named(args.step) if args.step else plan.steps[0]
        for hop in plan.topology.hops:
            ctx = RenderContext(hop.name, hop.port, hop.upstream, step.scale)
            for name, text in HOP_KINDS[hop.kind].render(step.knobs[hop.name], ctx).items():
                _write(out / hop.name / name, text, "--out")
        paths.make_shared_dir(out)  # the replicas' shared state (the app's idempotency keys)
        print(f"rendered step {step.step.name!r} of {plan.scenario.id} into {out}; run it by hand with:\n"
              f"  FAULTLAB_CONFIG={out.resolve()} docker compose -f {plan.topology.compose_file} up")
    return 0


def cmd_fix(args: argparse.Namespace) -> int:
    from faultlab.model import scenario
    from faultlab.output import fix_text
    from faultlab.tools import fix
    from faultlab.tools.fix import FORMATS

    if args.format is not None and args.format not in FORMATS:
        raise _usage(f"--format: no fix format {args.format!r}; the formats are {', '.join(FORMATS)}")
    report = fix.build(scenario.load(args.scenario))
    _out(fix_text.only(report, args.format) if args.format else fix_text.full(report, HINTS), end="")
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    import json

    from faultlab.output import diagnose_text
    from faultlab.tools import diagnose

    result = diagnose.diagnose(diagnose.read_inputs(args.files))
    if args.json:
        print(json.dumps(diagnose_text.to_dict(result, HINTS), indent=2))
    else:
        _out(diagnose_text.render_text(result, HINTS))
    return 0 if result.known else 1


def cmd_images(args: argparse.Namespace) -> int:
    from faultlab.infra import engine, images

    if args.action:
        return _image_bundle(args)
    tags = images.ensure(engine.connect(), _say)
    for name, tag in tags.items():
        print(f"{name:<8} {tag}")
    return 0


def _image_bundle(args: argparse.Namespace) -> int:
    from faultlab.infra import bundle, engine

    if not args.file:
        raise _usage(f"`lab images {args.action}` needs a file, e.g. `lab images {args.action} faultlab-bundle.tar`")
    path = Path(args.file)
    if args.action == "save":
        info = bundle.save(engine.connect(), path, _say)
        print(f"{path}: {len(info.names)} images, {info.size_bytes / 1e6:.0f} MB; "
              f"load it elsewhere with `lab images load {path.name}`")
    else:
        if not path.is_file():
            from faultlab.errors import InputError

            raise InputError(f"no bundle at {path}", tip="write one with `lab images save FILE` (or `make workshop`)")
        info = bundle.load(engine.connect(), path, _say)
        print("\n".join(info.names))
    return 0


def cmd_engine(args: argparse.Namespace) -> int:
    from faultlab.infra import engine

    if args.action == "status":
        engine.connect()
        print("Docker engine reachable")
        return 0
    pid = engine.ensure(_say)
    print(f"dockerd started (pid {pid}); stop it with `kill {pid}`" if pid else "Docker engine already running")
    return 0


def cmd_with_engine(args: argparse.Namespace) -> int:
    from faultlab.infra import engine

    command = [part for part in args.command if part != "--"]
    if not command:
        raise _usage("with-engine needs a command, e.g. `lab with-engine -- pytest`")
    return engine.with_engine(command, _say)


def cmd_bench(args: argparse.Namespace) -> int:
    import time

    from faultlab.bench import SECTIONS, run
    from faultlab.bench.table import print_figures

    sections = args.only.split(",") if args.only else list(SECTIONS)
    unknown = [name for name in sections if name not in SECTIONS]
    if unknown:
        raise _usage(f"--only: no bench section {', '.join(unknown)}; the sections are {', '.join(SECTIONS)}")
    started = time.monotonic()
    figures = run(sections, _say)
    print_figures(figures, time.monotonic() - started)
    return 0


def cmd_compare_ingress(args: argparse.Namespace) -> int:
    from faultlab.output import compare_text
    from faultlab.run import runner
    from faultlab.tools import compare

    path = Path(args.manifest)
    ingress = compare.read(path)
    plan = compare.plan(ingress, path)
    if not args.json:
        compare_text.render_inventory(ingress.name, compare.inventory(ingress), compare.notes(ingress))
    args.report = None
    result = runner.run(plan, _handlers(args, 1))
    return 0 if result.ok else 1


def cmd_explain(args: argparse.Namespace) -> int:
    from faultlab.model import scenario
    from faultlab.output import explain_text
    from faultlab.tools import explain

    explain_text.render(explain.explain(scenario.load(args.scenario)), hints=HINTS)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from faultlab.model import schema

    text = schema.render()
    if args.out:
        _write(Path(args.out), text, "--out")
        print(f"wrote the scenario JSON Schema to {args.out}")
    else:
        print(text, end="")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from faultlab.infra import engine
    from faultlab.infra.stack import clean

    cleaned = clean(engine.connect(), everything=args.all)
    print("removed " + ", ".join(f"{count} {kind}" for kind, count in cleaned.removed.items())
          + f" of {len(cleaned.projects)} faultlab project(s) whose run is gone")
    for project, state in cleaned.kept.items():
        why = "its run is still going" if state == "alive" else "its owner cannot be checked from here"
        print(f"kept {project}: {why} (`lab clean --all` removes it anyway)")
    return 0


def _write(path: Path, text: str, flag: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        raise _usage(f"{flag}: cannot write {path}: {exc.strerror or exc}") from None


def _practice_dir(args: argparse.Namespace) -> Path:
    """--dir, or the one practice here: this directory, or a single ./practice-*/ that holds one."""
    from faultlab.errors import InputError
    from faultlab.tools import practice

    if args.dir:
        return Path(args.dir)
    here = Path(".")
    if (here / practice.STATE_DIR / practice.STATE_FILE).is_file():
        return here
    found = sorted(path for path in here.glob("practice-*")
                   if (path / practice.STATE_DIR / practice.STATE_FILE).is_file())
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError("no practice here", tip=f"start one with `{PROG} practice start <scenario>`")
    raise InputError(f"{len(found)} practices here ({', '.join(map(str, found))})", tip="say which with --dir")


def cmd_practice(args: argparse.Namespace) -> int:
    from faultlab.output import practice_text
    from faultlab.tools import practice

    if args.practice == "list":
        from faultlab.model import catalogue, scenario

        for entry in catalogue.entries():
            if entry.problem is not None:
                continue
            problem = practice.why_not(scenario.load(entry.id))
            _out(f"{entry.id:<28} {'yes' if problem is None else 'no: ' + problem}")
        return 0
    if args.practice == "start":
        from faultlab.model import scenario

        plan = scenario.load(args.scenario)
        directory = Path(args.dir) if args.dir else practice.default_directory(plan.id)
        limit = _duration_arg("--time", args.time) if args.time else None
        workspace = practice.start(plan, directory, time_limit_s=limit)
        from faultlab.run import session

        print(f"starting {plan.id}'s stack in its broken state …", flush=True)
        with session.open_stack(plan, plan.broken.knobs, scale=plan.broken.scale, kept=_kept(workspace)) as stack:
            url = stack.url()
        practice_text.started(workspace, PROG, url)
        return 0
    workspace = practice.open_workspace(_practice_dir(args))
    if args.practice == "status":
        practice_text.status(workspace)
        if args.report:
            try:
                written = practice_text.report(workspace, Path(args.report) / "index.html")
            except OSError as exc:
                raise _usage(f"--report: cannot write to {args.report}: {exc.strerror or exc}") from None
            print(f"report: {written}")
    elif args.practice == "hint":
        practice_text.hinted(practice.hint(workspace))
    elif args.practice == "diff":
        text = practice.diff(workspace)
        _out(text or "no change yet: your files are the broken ones", end="" if text else "\n")
    elif args.practice == "reset":
        from faultlab.run import session

        practice.reset(workspace)
        plan = workspace.plan
        with session.open_stack(plan, plan.broken.knobs, scale=plan.broken.scale, kept=_kept(workspace)) as stack:
            url = stack.url()
        print(f"{workspace.directory}: the broken files are back, and the stack runs them again at {url} (your "
              "checks and hints stay counted)")
    elif args.practice == "stop":
        from faultlab.run import session

        session.remove_kept(workspace.plan, _kept(workspace))
        practice.stop(workspace)
        print(f"practice {workspace.state.scenario} ended: its containers are gone, your files stay in "
              f"{workspace.directory}/")
    elif args.practice == "check":
        from faultlab.hops.base import WorkspaceError
        from faultlab.infra import toolbox
        from faultlab.output.terminal import TerminalReport
        from faultlab.run import runner

        view = TerminalReport(quiet=args.quiet, hints=None)
        kept = _kept(workspace)
        try:
            outcome = practice.check(
                workspace, lambda plan: runner.run(plan, [view], until_failure=True, kept=kept), toolbox.check)
        except WorkspaceError as exc:
            return _report(exc)
        practice_text.checked(outcome, PROG, repeat_checks=args.quiet)
        return 0 if outcome.outcome == "solved" else 1
    return 0


def _kept(workspace: Workspace) -> Kept:
    """The workspace's stack, which stays up between the practice's commands."""
    from faultlab.infra.stack import Kept

    return Kept(*workspace.stack)


def _duration_arg(flag: str, text: str) -> float:
    from faultlab.units import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise _usage(f"{flag}: {exc}") from None


def _time_scale(text: str | None) -> TimeScale | None:
    from faultlab.units import TimeScale

    if text is None:
        return None
    try:
        return TimeScale.parse(text)
    except ValueError as exc:
        raise _usage(f"--time-scale: {exc}") from None


def _usage(message: str) -> LabError:
    from faultlab.errors import InputError

    return InputError(message)


SCENARIO_HELP = "a scenario id (see `faultlab list`) or the path of your own scenario .yaml"


def build_parser() -> argparse.ArgumentParser:
    from faultlab import __version__
    from faultlab.tools import MAX_DIAGNOSE_MIB

    parser = argparse.ArgumentParser(
        prog=PROG, description="faultlab: replay reverse-proxy incidents with real nginx, traefik, HAProxy, "
        "gunicorn, uwsgi and uvicorn in docker compose, and check what users see.",
        epilog="Start with `faultlab list`, then `faultlab explain <scenario>` and `faultlab run <scenario>`. "
        "Exit status: 0 ok, 1 a step did not match (or diagnose found no known cause), 2 bad input, "
        "3 environment, 130 interrupted.")
    parser.add_argument("--version", action="version", version=f"faultlab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("--scenarios", metavar="DIR", action="append", default=[],
                        help="also use the scenario files in DIR (repeatable; or FAULTLAB_SCENARIOS=DIR1:DIR2)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub = commands.add_parser("list", help="list the scenarios", description="List every scenario with its "
                              "number of steps and its title; files that cannot be read are named, not hidden.")
    sub.set_defaults(func=cmd_list)

    sub = commands.add_parser("explain", help="the story of a scenario: chain, what breaks, why, wrong fix, fix, docs")
    sub.add_argument("scenario", help=SCENARIO_HELP)
    sub.set_defaults(func=cmd_explain)

    sub = commands.add_parser("run", help="run a scenario against real containers")
    sub.add_argument("scenario", help=SCENARIO_HELP)
    sub.add_argument("--step", help="run only this step (earlier steps' config changes still apply)")
    sub.add_argument("--time-scale", help="override the scenario's time scale, e.g. 1/10; 1 = real durations")
    sub.add_argument("--json", action="store_true", help="print the result as JSON instead of the terminal view")
    sub.add_argument("--quiet", "-q", action="store_true", help="only the summary table and the verdict (for CI)")
    sub.add_argument("--repeat", type=int, default=1, metavar="N",
                     help="run N times and print each run's verdict and the flake rate")
    sub.add_argument("--report", metavar="DIR", help="also write DIR/index.html and DIR/report.md "
                     "(with --repeat: DIR/run-<n>/)")
    sub.set_defaults(func=cmd_run)

    sub = commands.add_parser("compare-ingress", help="run your Ingress's annotations through ingress-nginx and "
                              "traefik's ingress-nginx provider, side by side",
                              description="Give the annotations of an Ingress manifest to the lab's ingress-nginx hop "
                              "and to the real traefik (kubernetesIngressNGINX provider), send the same probes (an "
                              "upload above the body limit, a slow upstream, a burst, a big response header) "
                              "through both, and print what each did.")
    sub.add_argument("manifest", help="a networking.k8s.io/v1 Ingress, e.g. examples/ingress.yaml")
    sub.add_argument("--json", action="store_true", help="print the result as JSON instead of the terminal view")
    sub.add_argument("--quiet", "-q", action="store_true", help="only the tables and the verdict")
    sub.set_defaults(func=cmd_compare_ingress)

    sub = commands.add_parser("fix", help="print a scenario's fix as nginx, Ingress, traefik, HAProxy, gunicorn, "
                              "uwsgi or uvicorn config")
    sub.add_argument("scenario", help=SCENARIO_HELP)
    # The choices come from the hop registry, checked in cmd_fix: importing it here would slow every command.
    sub.add_argument("--format", metavar="FORMAT", help="only this target's config, ready to paste: haproxy, "
                     "nginx, ingress, gunicorn, uwsgi, uvicorn, traefik or deployment (default: every one that "
                     "applies)")
    sub.set_defaults(func=cmd_fix)

    sub = commands.add_parser(
        "diagnose", help="name the scenario behind pasted log lines or status codes",
        description="Read log lines (nginx, ingress-nginx, traefik, HAProxy, gunicorn, uwsgi, uvicorn; their "
        "default formats or the "
        "lab's) and/or status codes, and rank the scenarios whose signatures they match, with the evidence, "
        "the command that reproduces it and the fix. Reads at most the first "
        f"{MAX_DIAGNOSE_MIB} MiB of input. Exit status: 0 a cause was named (also when only the statuses fit), "
        "1 no known cause (the closest partial matches are shown), 2 a file could not be read.",
        epilog="example: kubectl logs deploy/ingress-nginx-controller | faultlab diagnose")
    sub.add_argument("files", nargs="*", metavar="FILE", help="log files; none or `-`: read stdin")
    sub.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    sub.set_defaults(func=cmd_diagnose)

    sub = commands.add_parser(
        "practice", help="fix a broken scenario's config yourself; `check` proves it with real traffic",
        description="Practice mode: `start` writes a scenario's broken config as the files you have at work "
        "(nginx.conf, the Ingress, …) into DIR; you edit them; `check` reads them, has the real tools check "
        "them, replays the scenario's traffic against real containers and says solved (exit 0), not yet, or "
        "which known wrong fix you made (exit 1).",
        epilog="example: faultlab practice start 413-body-size && $EDITOR practice-413-body-size/host-nginx/nginx.conf "
        "&& faultlab practice check")
    actions = sub.add_subparsers(dest="practice", metavar="ACTION", required=True,
                                 help="list, start, status, check, hint, diff, reset or stop")
    action = actions.add_parser("list", help="which scenarios can be practised, and why not the others")
    action = actions.add_parser("start", help="write the broken files into DIR (default ./practice-<scenario>) and "
                                "bring its stack up, broken")
    action.add_argument("scenario", help=SCENARIO_HELP)
    action.add_argument("--dir", metavar="DIR", help="where to write the files (new or empty)")
    action.add_argument("--time", metavar="DURATION", help="a time limit, e.g. 20m: `status` shows what is left")
    for name, text in (("status", "the brief, the checks so far, hints used, time"),
                       ("check", "check your files with real traffic: exit 0 only when solved"),
                       ("hint", "the next hint (which hop, which setting, the fix)"),
                       ("diff", "your change against the broken files"),
                       ("reset", "back to the broken files, and the stack running them"),
                       ("stop", "remove its stack and end the practice (your files stay)")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--dir", metavar="DIR", help="the practice's directory (default: the one here)")
        if name == "check":
            action.add_argument("--quiet", "-q", action="store_true", help="only the verdict and the summary table")
        if name == "status":
            action.add_argument("--report", metavar="DIR", help="also write DIR/index.html: every check's verdict, "
                                "hints used, time to solve (for the teacher)")
    sub.set_defaults(func=cmd_practice)

    sub = commands.add_parser("render", help="write a step's configs so compose/<topology>.yaml can run by hand",
                              description="Write every hop's rendered config for one step into DIR/<hop>/ and "
                              "print the docker compose command that runs them by hand.")
    sub.add_argument("scenario", help=SCENARIO_HELP)
    sub.add_argument("--step", help="the step whose knobs to render (default: the first)")
    sub.add_argument("--time-scale", help="override the scenario's time scale, e.g. 1/10; 1 = real durations")
    sub.add_argument("--out", required=True, metavar="DIR", help="where to write the configs (created if missing)")
    sub.set_defaults(func=cmd_render)

    sub = commands.add_parser("images", help="build the lab's images (cached by their inputs); save or load "
                              "them as one file for a room without internet")
    sub.add_argument("action", nargs="?", choices=["save", "load"],
                     help="save: write the base and every lab image into FILE; load: load them from FILE")
    sub.add_argument("file", nargs="?", metavar="FILE", help="the bundle, e.g. faultlab-bundle.tar")
    sub.set_defaults(func=cmd_images)

    sub = commands.add_parser("engine", help="check or start the Docker engine",
                              description="status: say whether a Docker engine answers. start: make one answer; "
                              "as root on Debian/Ubuntu this may `apt-get install docker.io` and starts dockerd in "
                              "the background (stop it with the kill command it prints).")
    sub.add_argument("action", choices=["status", "start"], help="status: check only; start: install/start if needed")
    sub.set_defaults(func=cmd_engine)

    sub = commands.add_parser("with-engine", help="run a command with an engine; stop it after if started here",
                              description="Run COMMAND with a Docker engine available: one already running is "
                              "used and left alone; otherwise (as root on Debian/Ubuntu) docker.io is installed if "
                              "missing and dockerd started, then stopped once COMMAND ends. `make test` uses it.")
    sub.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments, after `--`")
    sub.set_defaults(func=cmd_with_engine)

    sub = commands.add_parser("clean", help="remove containers, networks and volumes left by killed runs")
    sub.add_argument("--all", action="store_true", help="also remove the stacks of runs still going")
    sub.set_defaults(func=cmd_clean)

    sub = commands.add_parser("bench", help="measure speed and memory against ab, curl and the targets")
    sub.add_argument("--only", metavar="SECTIONS", help="comma-separated: load,upload,fidelity,scenarios,build")
    sub.set_defaults(func=cmd_bench)

    sub = commands.add_parser("schema", help="print the JSON Schema of scenario files (for editors and CI checks)")
    sub.add_argument("--out", metavar="FILE", help="write it to FILE instead (the packaged copy is "
                     "faultlab/data/schema/scenario.schema.json)")
    sub.set_defaults(func=cmd_schema)

    sub = commands.add_parser("completion", help="print a shell completion script (bash or zsh)",
                              description="Print a completion script: `eval \"$(faultlab completion bash)\"` in "
                              "~/.bashrc, or `faultlab completion zsh > ~/.zfunc/_faultlab`.")
    sub.add_argument("shell", choices=["bash", "zsh"], help="the shell to complete in")
    sub.set_defaults(func=cmd_completion)
    return parser


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the same teardown path as Ctrl-C


# The commands that start containers: an interruption there tears them down, and says so.
STARTS_CONTAINERS = {cmd_run, cmd_bench}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    signal.signal(signal.SIGTERM, _terminate)
    # A shell starts background jobs with SIGINT ignored, and Python keeps that: a `kill -INT` (or CI
    # stopping a job) must still tear the stack down, so Ctrl-C gets its handler whatever we inherited.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        from faultlab.model import catalogue

        for folder in args.scenarios:
            catalogue.add_folder(Path(folder))
        return args.func(args)
    except LabError as exc:
        if args.debug:
            raise
        return _report(exc)
    except KeyboardInterrupt:
        done = ": the lab's containers were removed" if args.func in STARTS_CONTAINERS else ""
        if args.func is cmd_practice:
            done = (": the practice's stack keeps its last configuration (`faultlab practice stop` removes it)"
                    if args.practice in ("start", "check") else "")
        print(f"interrupted{done}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lab list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        from faultlab.infra.engine import from_engine

        lab_error = from_engine(exc)
        if lab_error is None or args.debug:
            raise
        return _report(lab_error)
    finally:
        if argv is None:  # this process ends now and its stack is gone: a late signal must not become a traceback
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, signal.SIG_IGN)


def _report(exc: LabError) -> int:
    from faultlab.output.printable import printable

    # One line each: a message quoting a user's file or value may hold line breaks or control characters.
    print(f"error: {printable(exc.message.replace(chr(10), ' '))}", file=sys.stderr)
    tip = exc.tip_for(PROG)
    if tip:
        print(f"Tip: {printable(tip.replace(chr(10), ' '))}", file=sys.stderr)
    return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
