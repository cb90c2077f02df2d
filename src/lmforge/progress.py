"""Rich progress bars shared by every long-running step."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def progress_bar(*extra_columns, console: Console | None = None, transient: bool = False) -> Progress:
    """A progress bar with counts, elapsed time and ETA; ``extra_columns`` append live stats."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        *extra_columns,
        console=console or Console(stderr=True),
        transient=transient,
    )
