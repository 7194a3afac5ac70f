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
    for column in ("section", "figure", "measured", "spread", "target", "", "detail"):
        table.add_column(column, overflow="fold")
    section = None
    for figure in figures:
        table.add_row(figure.section if figure.section != section else "", escape(figure.name),
                      figure.shown(figure.value), figure.spread_text, figure.target_text, VERDICTS[figure.verdict],
                      escape(figure.detail))
        section = figure.section
    console.print(table)
    console.print(summary(figures) + f"; bench took {seconds / 60:.1f} min")


VERDICTS = {"PASS": "[green]PASS[/]", "SHORT": "[red]SHORT[/]", "UNSURE": "[yellow]UNSURE[/]"}


def summary(figures: list[Figure]) -> str:
    """"18/27 figures meet their target, 3 not distinguishable from it on this machine (UNSURE: …)": the
    UNSURE ones counted apart, not as SHORT."""
    verdicts = [figure.verdict for figure in figures]
    text = f"{verdicts.count('PASS')}/{len(figures)} figures meet their target"
    unsure = verdicts.count("UNSURE")
    if unsure:
        text += (f", {unsure} not distinguishable from it on this machine (UNSURE: their samples fall on both "
                 "sides of the target)")
    return text
