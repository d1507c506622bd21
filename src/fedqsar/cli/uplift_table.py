"""The uplift summary printed at the end of ``fedqsar demo`` and ``fedqsar evaluate``."""

from __future__ import annotations

import pandas as pd
from rich.table import Table


def uplift_console_table(uplift: pd.DataFrame) -> Table:
    """Personalised (else federated) vs local per partner and metric, with the pooled upper bound and the 95% CI."""
    kind = "personalised" if (uplift["comparison"] == "personalised_vs_local").any() else "federated"
    table = Table(title=f"{kind} vs local on each partner's test fold (95% bootstrap CI)")
    columns = ("partner", "metric", "local", "federated", "personalised", "pooled", "delta", "95% CI", "tasks")
    for column in columns:
        table.add_column(column, justify="left" if column in ("partner", "metric") else "right", no_wrap=True)
    rows = uplift[uplift["comparison"] == f"{kind}_vs_local"]
    for row in rows.itertuples(index=False):
        table.add_row(
            str(row.partner),
            str(row.metric),
            f"{row.local:.3f}",
            f"{row.federated:.3f}",
            f"{row.personalised:.3f}",
            f"{row.pooled:.3f}",
            f"{row.delta_abs:+.3f}",
            "no interval" if pd.isna(row.ci_low) else f"{row.ci_low:+.3f}..{row.ci_high:+.3f}",
            str(row.n_tasks),
        )
    return table
