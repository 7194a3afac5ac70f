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
    from faultlab.run.events import Handler
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


def cmd_list(args: argparse.Namespace) -> int:
    import yaml

    from faultlab.model import scenario

    rows = []
    for scenario_id, path in scenario.available().items():
        document = yaml.safe_load(path.read_text()) or {}
        rows.append((scenario_id, len(document.get("steps") or []), document.get("title", "")))
    width = max((len(row[0]) for row in rows), default=10)
    print(f"{'scenario':<{width}}  steps  title")
    for scenario_id, steps, title in rows:
        print(f"{scenario_id:<{width}}  {steps:>5}  {title}")
    print("\nRead one: lab explain <scenario>   Run one: lab run <scenario>   (or: make scenario-<scenario>)")
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
            raise _usage(f"cannot write the report to {directory}: {exc.strerror}") from None
        handlers.append(HtmlReport(directory, lambda page: _say(f"report written: {page} (and report.md)"), HINTS))
    return handlers


def cmd_render(args: argparse.Namespace) -> int:
    from faultlab.hops import HOP_KINDS, RenderContext
    from faultlab.model import scenario

    plan = scenario.load(args.scenario, time_scale=_time_scale(args.time_scale))
    step = plan.step_named(args.step) if args.step else plan.steps[0]
    for hop in plan.topology.hops:
        ctx = RenderContext(hop.name, hop.port, hop.upstream, plan.scale)
        directory = Path(args.out) / hop.name
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in HOP_KINDS[hop.kind].render(step.knobs[hop.name], ctx).items():
            (directory / name).write_text(text)
    print(f"rendered step {step.step.name!r} of {plan.scenario.id} into {args.out}; run it by hand with:\n"
          f"  FAULTLAB_CONFIG={Path(args.out).resolve()} docker compose -f {plan.topology.compose_file} up")
    return 0


def cmd_fix(args: argparse.Namespace) -> int:
    from faultlab.hops import FIX_FORMATS
    from faultlab.model import scenario
    from faultlab.output import fix_text
    from faultlab.tools import fix

    if args.format is not None and args.format not in FIX_FORMATS:
        raise _usage(f"--format: no fix format {args.format!r}; the formats are {', '.join(FIX_FORMATS)}")
    report = fix.build(scenario.load(args.scenario))
    print(fix_text.only(report, args.format) if args.format else fix_text.full(report, HINTS), end="")
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    import json

    from faultlab.output import diagnose_text
    from faultlab.tools import diagnose

    result = diagnose.diagnose(diagnose.read_inputs(args.files))
    print(json.dumps(diagnose_text.to_dict(result, HINTS), indent=2) if args.json
          else diagnose_text.render_text(result, HINTS))
    return 0 if result.found else 1


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
        Path(args.out).write_text(text)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faultlab", description="faultlab: replay reverse-proxy incidents with "
                                     "real nginx, gunicorn and friends in docker compose.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub = commands.add_parser("list", help="list the scenarios")
    sub.set_defaults(func=cmd_list)

    sub = commands.add_parser("explain", help="the story of a scenario: chain, what breaks, why, wrong fix, fix, docs")
    sub.add_argument("scenario", help="a scenario id (see `lab list`) or a path to your own scenario .yaml")
    sub.set_defaults(func=cmd_explain)

    sub = commands.add_parser("run", help="run a scenario against real containers")
    sub.add_argument("scenario", help="a scenario id (see `lab list`) or a path to your own scenario .yaml")
    sub.add_argument("--step", help="run only this step (earlier steps' config changes still apply)")
    sub.add_argument("--time-scale", help="override the scenario's time scale, e.g. 1/10; 1 = real durations")
    sub.add_argument("--json", action="store_true", help="print the result as JSON instead of the terminal view")
    sub.add_argument("--quiet", "-q", action="store_true", help="only the summary table and the verdict (for CI)")
    sub.add_argument("--repeat", type=int, default=1, metavar="N",
                     help="run N times and print each run's verdict and the flake rate")
    sub.add_argument("--report", metavar="DIR", help="also write DIR/index.html and DIR/report.md "
                     "(with --repeat: DIR/run-<n>/)")
    sub.set_defaults(func=cmd_run)

    sub = commands.add_parser("fix", help="print a scenario's fix as nginx, Ingress, gunicorn, uwsgi or traefik config")
    sub.add_argument("scenario", help="a scenario id (see `lab list`) or a path to your own scenario .yaml")
    # The choices come from the hop registry, checked in cmd_fix: importing it here would slow every command.
    sub.add_argument("--format", metavar="FORMAT", help="only this target's config, ready to paste: nginx, "
                     "ingress, gunicorn, uwsgi or traefik (default: every one that applies)")
    sub.set_defaults(func=cmd_fix)

    sub = commands.add_parser(
        "diagnose", help="name the scenario behind pasted log lines or status codes",
        description="Read log lines (nginx, ingress-nginx, traefik, gunicorn, uwsgi; their default formats or the "
        "lab's) and/or status codes, and rank the scenarios whose signatures they match, with the evidence, "
        "the command that reproduces it and the fix. Exit status: 0 a cause was named (also when only the "
        "statuses fit), 1 no known cause (the closest partial matches are shown), 2 a file could not be read.",
        epilog="example: kubectl logs deploy/ingress-nginx-controller | lab diagnose")
    sub.add_argument("files", nargs="*", metavar="FILE", help="log files; none or `-`: read stdin")
    sub.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    sub.set_defaults(func=cmd_diagnose)

    sub = commands.add_parser("render", help="write a step's configs so compose/<topology>.yaml can run by hand")
    sub.add_argument("scenario")
    sub.add_argument("--step")
    sub.add_argument("--time-scale")
    sub.add_argument("--out", required=True)
    sub.set_defaults(func=cmd_render)

    sub = commands.add_parser("images", help="build the lab's images (cached by their inputs); save or load "
                              "them as one file for a room without internet")
    sub.add_argument("action", nargs="?", choices=["save", "load"],
                     help="save: write the base and every lab image into FILE; load: load them from FILE")
    sub.add_argument("file", nargs="?", metavar="FILE", help="the bundle, e.g. faultlab-bundle.tar")
    sub.set_defaults(func=cmd_images)

    sub = commands.add_parser("engine", help="check or start the Docker engine")
    sub.add_argument("action", choices=["status", "start"])
    sub.set_defaults(func=cmd_engine)

    sub = commands.add_parser("with-engine", help="run a command with an engine; stop it after if started here")
    sub.add_argument("command", nargs=argparse.REMAINDER)
    sub.set_defaults(func=cmd_with_engine)

    sub = commands.add_parser("clean", help="remove containers, networks and volumes left by killed runs")
    sub.add_argument("--all", action="store_true", help="also remove the stacks of runs still going")
    sub.set_defaults(func=cmd_clean)

    sub = commands.add_parser("bench", help="measure speed and memory against ab, curl and the targets")
    sub.add_argument("--only", metavar="SECTIONS", help="comma-separated: load,upload,fidelity,scenarios,build")
    sub.set_defaults(func=cmd_bench)

    sub = commands.add_parser("schema", help="print the JSON Schema of scenario files (for editors and CI checks)")
    sub.add_argument("--out", metavar="FILE", help="write it to FILE instead (schema/scenario.schema.json is "
                     "the published copy)")
    sub.set_defaults(func=cmd_schema)
    return parser


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the same teardown path as Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except LabError as exc:
        if args.debug:
            raise
        return _report(exc)
    except KeyboardInterrupt:
        print("interrupted: the lab's containers were removed", file=sys.stderr)
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
    print(f"error: {exc.message}", file=sys.stderr)
    tip = exc.tip_for(PROG)
    if tip:
        print(f"Tip: {tip}", file=sys.stderr)
    return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
