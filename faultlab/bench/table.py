"""The figures as one table: measured, target, PASS or SHORT, and what stands behind each number."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from faultlab.bench.figures import Figure


def print_figures(figures: list[Figure], seconds: float, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    if not console.is_terminal:
        console.width = 180  # piped into a file or a note: keep each figure on a line or two
    table = Table(title="faultlab bench", title_justify="left", show_lines=False)
    for column in ("section", "figure", "measured", "target", "", "detail"):
        table.add_column(column, overflow="fold")
    section = None
    for figure in figures:
        verdict = "[green]PASS[/]" if figure.passed else "[red]SHORT[/]"
        table.add_row(figure.section if figure.section != section else "", escape(figure.name),
                      figure.shown(figure.value), figure.target_text, verdict, escape(figure.detail))
        section = figure.section
    console.print(table)
    passed = sum(figure.passed for figure in figures)
    console.print(f"{passed}/{len(figures)} figures meet their target; bench took {seconds / 60:.1f} min")
