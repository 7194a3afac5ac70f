"""`lab`: thin argument parsing around the one run path. Heavy imports stay inside the commands."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from lab.errors import LabError


def _say(text: str) -> None:
    print(f"faultlab: {text}", file=sys.stderr, flush=True)


def cmd_list(args: argparse.Namespace) -> int:
    import yaml

    from lab import scenario

    rows = []
    for scenario_id, path in scenario.available().items():
        document = yaml.safe_load(path.read_text()) or {}
        rows.append((scenario_id, len(document.get("steps") or []), document.get("title", "")))
    width = max((len(row[0]) for row in rows), default=10)
    print(f"{'scenario':<{width}}  steps  title")
    for scenario_id, steps, title in rows:
        print(f"{scenario_id:<{width}}  {steps:>5}  {title}")
    print("\nRun one: lab run <scenario>   (or: make scenario-<scenario>)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from lab import runner, scenario
    from lab.report.terminal import TerminalReport

    plan = scenario.load(args.scenario, time_scale=args.time_scale)
    if args.step:
        plan.step_named(args.step)  # a typo fails before any container starts
    if args.repeat < 1:
        raise _usage("--repeat takes a number of runs, 1 or more")
    results = []
    for _ in range(args.repeat):
        if args.json:
            from lab.report.json import JsonReport

            handler = JsonReport()
            results.append(runner.run(plan, handler, only_step=args.step))
            handler.dump(sys.stdout)
        else:
            results.append(runner.run(plan, TerminalReport(), only_step=args.step))
    if args.repeat > 1 and not args.json:
        from lab.report.terminal import print_repeats

        print_repeats(results)
    return 0 if all(result.ok for result in results) else 1


def cmd_render(args: argparse.Namespace) -> int:
    from lab import scenario
    from lab.render import HOP_KINDS, RenderContext

    plan = scenario.load(args.scenario, time_scale=args.time_scale)
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


def cmd_images(args: argparse.Namespace) -> int:
    from lab import engine, images

    tags = images.ensure(engine.connect(), _say)
    for name, tag in tags.items():
        print(f"{name:<8} {tag}")
    return 0


def cmd_engine(args: argparse.Namespace) -> int:
    from lab import engine

    if args.action == "status":
        engine.connect()
        print("Docker engine reachable")
        return 0
    pid = engine.ensure(_say)
    print(f"dockerd started (pid {pid}); stop it with `kill {pid}`" if pid else "Docker engine already running")
    return 0


def cmd_with_engine(args: argparse.Namespace) -> int:
    from lab import engine

    command = [part for part in args.command if part != "--"]
    if not command:
        raise _usage("with-engine needs a command, e.g. `lab with-engine -- pytest`")
    return engine.with_engine(command, _say)


def cmd_clean(args: argparse.Namespace) -> int:
    from lab import engine
    from lab.stack import clean

    cleaned = clean(engine.connect(), everything=args.all)
    print("removed " + ", ".join(f"{count} {kind}" for kind, count in cleaned.removed.items())
          + f" of {len(cleaned.projects)} faultlab project(s) whose run is gone")
    for project, state in cleaned.kept.items():
        why = "its run is still going" if state == "alive" else "its owner cannot be checked from here"
        print(f"kept {project}: {why} (`lab clean --all` removes it anyway)")
    return 0


def _usage(message: str) -> LabError:
    from lab.errors import InputError

    return InputError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lab", description="faultlab: replay reverse-proxy incidents with "
                                     "real nginx, gunicorn and friends in docker compose.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub = commands.add_parser("list", help="list the scenarios")
    sub.set_defaults(func=cmd_list)

    sub = commands.add_parser("run", help="run a scenario against real containers")
    sub.add_argument("scenario", help="a scenario id (see `lab list`) or a path to your own scenario .yaml")
    sub.add_argument("--step", help="run only this step (earlier steps' config changes still apply)")
    sub.add_argument("--time-scale", help="override the scenario's time scale, e.g. 1/10; 1 = real durations")
    sub.add_argument("--json", action="store_true", help="print the result as JSON instead of the terminal view")
    sub.add_argument("--repeat", type=int, default=1, metavar="N",
                     help="run N times and print each run's verdict and the flake rate")
    sub.set_defaults(func=cmd_run)

    sub = commands.add_parser("render", help="write a step's configs so compose/<topology>.yaml can run by hand")
    sub.add_argument("scenario")
    sub.add_argument("--step")
    sub.add_argument("--time-scale")
    sub.add_argument("--out", required=True)
    sub.set_defaults(func=cmd_render)

    sub = commands.add_parser("images", help="build the lab's images (cached by their inputs)")
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
    except Exception as exc:
        from lab.errors import from_engine

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
    if exc.tip:
        print(f"Tip: {exc.tip}", file=sys.stderr)
    return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
