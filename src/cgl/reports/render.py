"""Numbers -> "mean ± std" cells, best-per-column bold, and Markdown / LaTeX (booktabs) tables.

The cells are plain text and the bold marks a separate mask, so that both formats are drawn
from one set of strings and can never disagree about a number. A table holds one metric, which
every score column names ("AP (ROC-AUC, %)"): AP alone reads as "average precision".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from cgl.output.display import metric_label

DASH = "—"
SCENARIOS = {
    "taskil": "Task-IL",
    "classil": "Class-IL",
    "domainil": "Domain-IL",
    "timeil": "Time-IL",
}
MODELS = {"gcn": "GCN", "gat": "GAT", "gin": "GIN", "sage": "GraphSAGE"}


def row_labels(table: pd.DataFrame) -> pd.DataFrame:
    """Dataset, Level, Scenario, Model, Method as a paper writes them (NC, Class-IL, GAT...)."""
    return pd.DataFrame(
        {
            "Dataset": table["dataset"],
            "Level": table["level"].str.upper(),
            "Scenario": table["scenario"].map(lambda s: SCENARIOS.get(s, s)),
            "Model": table["model"].map(lambda m: MODELS.get(m, m)),
            "Method": table["method"],
        }
    )


def block_title(dataset: str, level: str, scenario: str, model: str) -> str:
    """`synthetic, NC, Class-IL, GCN`."""
    shown = (dataset, level.upper(), SCENARIOS.get(scenario, scenario), MODELS.get(model, model))
    return ", ".join(shown)


def metric_header(key: str, metric: str) -> str:
    """A score column's header: `AP (accuracy, %)`, `AF (Hits@50, %)`."""
    return f"{key} ({metric_label(metric)}, %)"


def by_metric(table: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """The table's rows per metric, metrics in order of first appearance (one table each)."""
    metrics = table["metric"].fillna("metric unknown")
    for metric in metrics.unique():
        yield metric, table[metrics == metric]


def counts(values: pd.Series) -> pd.Series:
    """Whole numbers as text ("3"), missing ones as a dash."""
    return values.map(lambda n: DASH if pd.isna(n) else str(int(n)))


def mean_std(mean: pd.Series, std: pd.Series, scale: float = 100.0, digits: int = 1) -> pd.Series:
    """Cells such as "78.1 ± 1.2"; just "78.1" without a std (one seed), "—" without a mean."""
    m = _rounded(mean, scale, digits).map(lambda v: f"{v:.{digits}f}")
    s = _rounded(std, scale, digits).map(lambda v: f" ± {v:.{digits}f}")
    text = m + s.where(std.notna(), "")
    return text.where(mean.notna(), DASH)


def _rounded(
    values: pd.Series | pd.DataFrame, scale: float, digits: int
) -> pd.Series | pd.DataFrame:
    """Scaled and rounded as shown; + 0.0 turns a rounded -0.0 into 0.0."""
    return (values * scale).round(digits) + 0.0


def best_mask(
    table: pd.DataFrame,
    better: Mapping[str, str],
    within: Sequence[str],
    scale: float = 100.0,
    digits: int = 1,
    exclude: pd.Series | None = None,
) -> pd.DataFrame:
    """Which cells hold the best shown value of their column within each `within` group, where
    it beats another shown value: a lone row, or a column of equal values, has nothing to beat.

    `better` maps a mean column to "max" or "min". Means are compared as displayed (rounded),
    so equal-looking values are bold together; rows in `exclude` are never bold.
    """
    shown = _rounded(table[list(better)], scale, digits)
    if exclude is not None:
        shown = shown.mask(exclude)
    groups = shown.groupby([table[c] for c in within], dropna=False)
    worse = {"max": "min", "min": "max"}
    best = pd.DataFrame({col: groups[col].transform(how) for col, how in better.items()})
    worst = pd.DataFrame({col: groups[col].transform(worse[how]) for col, how in better.items()})
    return (shown == best) & (best != worst)


def markdown(cells: pd.DataFrame, bold: pd.DataFrame | None = None) -> str:
    """A GitHub-flavoured Markdown table; bold cells as **text**."""
    shown = _marked(cells, bold, "**{}**")
    lines = [_row(cells.columns), _row(["---"] * len(cells.columns))]
    lines += [_row(row) for row in shown.to_numpy()]
    return "\n".join(lines) + "\n"


def latex(cells: pd.DataFrame, bold: pd.DataFrame | None, caption: str, groups: pd.Series) -> str:
    """A booktabs table; bold cells as \\textbf{}, a \\midrule where `groups` changes."""
    escaped = cells.map(_tex)
    shown = _marked(escaped, bold, "\\textbf{{{}}}")
    align = "l" * len(cells.columns)
    lines = [
        "\\begin{table}[t]",
        "\\centering",
        f"\\caption{{{_tex(caption)}}}",
        f"\\begin{{tabular}}{{{align}}}",
        "\\toprule",
        " & ".join(_tex(c) for c in cells.columns) + " \\\\",
        "\\midrule",
    ]
    new_group = groups.ne(groups.shift()).to_numpy()
    for i, row in enumerate(shown.to_numpy()):
        if i and new_group[i]:
            lines.append("\\midrule")
        lines.append(" & ".join(row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def _marked(cells: pd.DataFrame, bold: pd.DataFrame | None, pattern: str) -> pd.DataFrame:
    if bold is None:
        return cells
    mask = bold.reindex(index=cells.index, columns=cells.columns, fill_value=False)
    return cells.mask(mask.to_numpy(dtype=bool), cells.map(pattern.format))


def _row(values: Sequence[str] | np.ndarray) -> str:
    return "| " + " | ".join(str(v).replace("|", "\\|") for v in values) + " |"


_TEX = {
    "\\": "\\textbackslash{}",
    "&": "\\&",
    "%": "\\%",
    "$": "\\$",
    "#": "\\#",
    "_": "\\_",
    "{": "\\{",
    "}": "\\}",
    "~": "\\textasciitilde{}",
    "^": "\\textasciicircum{}",
}


def _tex(text: object) -> str:
    """LaTeX-safe text; ± and — as math / dash commands."""
    out = "".join(_TEX.get(ch, ch) for ch in str(text))
    return out.replace("±", "$\\pm$").replace(DASH, "---")
