"""The terminal view of `compare-ingress` before its run: each annotation, who reads it, which probe shows it."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from faultlab.output.console import make_console, print_wrapped
from faultlab.tools.compare import Row


def _yes(flag: bool) -> str:
    return "yes" if flag else "[bold]no[/]"


def render_inventory(name: str, rows: Sequence[Row], notes: Sequence[str] = (), console: Console | None = None) -> None:
    console = console or make_console()
    if not rows:
        print_wrapped(console, f"Ingress {escape(name)} has no nginx.ingress.kubernetes.io/ annotations: the probes "
                               "compare the two controllers' defaults.")
        return
    table = Table(title=f"Ingress {name}: its annotations", title_justify="left")
    for column in ("annotation", "value", "traefik reads it", "ingress-nginx reads it", "probed by"):
        table.add_column(column)
    for row in rows:
        # Where the lab's ingress-nginx hop does not render a real annotation, that side shows its default.
        nginx = _yes(row.ingress_nginx_reads) + ("" if row.lab_models or not row.ingress_nginx_reads
                                                 else " [dim](not in the lab's hop)[/]")
        table.add_row(escape(row.name), escape(row.value), _yes(row.traefik_reads), nginx,
                      escape(row.probe) if row.probe else "[dim]—[/]")
    console.print(table)
    ignored = [row.name for row in rows if not row.traefik_reads]
    if ignored:
        print_wrapped(console, f"traefik ignores {len(ignored)} of them without a log line: "
                               f"{escape(', '.join(ignored))} (not in its provider's annotations, traefik v3.7.9 "
                               "annotations.go).")
    unmodelled = [row.name for row in rows if row.ingress_nginx_reads and not row.lab_models]
    if unmodelled:
        print_wrapped(console, f"The lab's ingress-nginx hop does not render {escape(', '.join(unmodelled))}: on that "
                               "side they have no effect here, so a probe cannot tell their difference.")
    for note in notes:
        print_wrapped(console, f"[bold]Note[/] {escape(note)}")
    print_wrapped(console, "Only the annotations are compared: the probes reach the lab's app on / through both "
                           "controllers (hosts, paths, TLS and backends stay the lab's).")
