"""Figures of one run folder: regional time series with seed bands, and the flow matrix.

Reads a run folder with :func:`experiments.store.open_run` (tables ``scenario, seed, year,
region, metric, value`` and ``scenario, seed, year, origin, destination, contract_value_bn,
contracts``, both at real-world scale) and writes PNG files next to them.  Money is in billion
yuan ("bn yuan"), counts are firms.  Metric titles and units come from :mod:`model.metrics`,
regions from :mod:`model.regions`.

The drawing helpers here (:func:`seed_quantiles`, :func:`draw_fan`, :func:`draw_od_matrix`)
are shared with :mod:`experiments.figures`.

The figures of a run folder use a fixed layout (margins in inches, :func:`fixed_layout`), not
constrained layout: each is then drawn once, when it is saved, instead of once more per layout
pass; and each PNG is written atomically (:func:`save`).  Which folders need drawing at all is
decided by :func:`experiments.ensemble.draw_plots` (``plots.json``).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator  # noqa: E402

from experiments.outcomes import KEY_METRICS  # noqa: E402
from experiments.store import open_run, write_atomically  # noqa: E402
from model.metrics import METRICS  # noqa: E402
from model.regions import FLOW_REGIONS, REGIONS  # noqa: E402

DPI = 110
REGION_COLOURS = {"Beijing": "#c0392b", "Tianjin": "#2471a3", "Hebei": "#1e8449"}  # one per REGIONS

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
Q_COLS = ("q05", "q25", "q50", "q75", "q95")
BAND_NOTE = "line = median across seeds; dark band = middle 50% of seeds; light band = 90% (5th-95th percentile)"


# ----------------------------------------------------------------------------- reading

def scenario_name(regions: pd.DataFrame, default: str) -> str:
    """The scenario named in the table (joined with '+' if several), else ``default``."""
    names = sorted(map(str, regions["scenario"].unique())) if "scenario" in regions else []
    return " + ".join(names) if names else default


# ----------------------------------------------------------------------------- statistics

def seed_quantiles(df: pd.DataFrame, by: list[str], value: str = "value") -> pd.DataFrame:
    """Quantiles across seeds of ``value`` grouped by ``by``: columns ``by + q05..q95 + n``."""
    g = df.groupby(by, sort=True)[value]
    q = g.quantile(list(QUANTILES)).unstack(-1)
    q.columns = list(Q_COLS)
    q["n"] = g.size()
    return q.reset_index()


def od_mean(flows: pd.DataFrame, year: int) -> pd.DataFrame:
    """Seed-mean contract value (bn yuan) in ``year`` as an origin x destination matrix.

    Rows and columns follow :data:`FLOW_REGIONS`; pairs that are not modelled are NaN.
    """
    sub = flows[flows["year"] == year]
    m = sub.groupby(["origin", "destination"])["contract_value_bn"].mean().unstack()
    return m.reindex(index=list(FLOW_REGIONS), columns=list(FLOW_REGIONS)).astype(float)


# ----------------------------------------------------------------------------- drawing helpers

def thousands(ax: plt.Axes) -> None:
    """Format the y axis with thousands separators (1,000 not 1000 or 1e3)."""
    ax.yaxis.set_major_formatter(FuncFormatter(
        lambda v, _: "0" if v == 0 else f"{v:,.0f}" if abs(v) >= 10 else f"{v:,.1f}"))


def finish(fig: plt.Figure, title: str, note: str, handles=None, ncol: int = 4) -> None:
    """Title (top left), a legend row under it and a small footnote.

    The figure must use constrained layout; the top 0.45 inch plus 0.27 inch per legend row is
    reserved for title and legend.
    """
    h = fig.get_size_inches()[1]
    rows = -(-len(handles) // ncol) if handles else 0
    top_in = 0.45 + 0.27 * rows
    fig.get_layout_engine().set(rect=(0, 0, 1, 1 - top_in / h))
    fig.text(0.01, 1 - 0.08 / h, title, ha="left", va="top", fontsize=13)
    if handles:
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.005, 1 - 0.36 / h), ncol=ncol,
                   frameon=False, fontsize=9.5, borderaxespad=0.0)
    fig.supxlabel(note, x=0.01, ha="left", fontsize=8.5, color="#444444")


def draw_fan(ax: plt.Axes, q: pd.DataFrame, colour: str, label: str | None = None,
             line_kw: dict | None = None) -> None:
    """Median line with 50% and 90% bands; ``q`` has ``year`` and ``q05..q95`` columns."""
    q = q.sort_values("year")
    ax.fill_between(q["year"], q["q05"], q["q95"], color=colour, alpha=0.13, linewidth=0)
    ax.fill_between(q["year"], q["q25"], q["q75"], color=colour, alpha=0.30, linewidth=0)
    ax.plot(q["year"], q["q50"], color=colour, label=label, **({"lw": 2} | (line_kw or {})))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def fmt_bn(v: float, signed: bool = False) -> str:
    """A bn-yuan amount with 3 significant figures (``signed``: with + for increases, 0 as "0")."""
    if not np.isfinite(v):
        return "n/a"
    if signed and abs(v) < 0.005:
        return "0"
    sign = "+" if signed else ""
    if abs(v) >= 100:
        return f"{v:{sign},.0f}"
    if abs(v) >= 10:
        return f"{v:{sign}.1f}"
    return f"{v:{sign}.2f}"


def plain_log_ticks(cb) -> None:
    """Colourbar ticks as plain numbers (10, 100, 1,000) instead of powers of ten."""
    cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))


def draw_od_matrix(ax: plt.Axes, m: pd.DataFrame, norm, cmap: str = "YlOrRd", signed: bool = False,
                   ylabels: bool = True):
    """Annotated heatmap of an origin x destination matrix in bn yuan; returns the image.

    NaN cells (pairs not modelled) are grey with the note "not modelled".  ``signed`` labels
    cells as changes (+12.3, 0); ``ylabels=False`` hides the row names (for panels on the right).
    """
    data = np.ma.masked_invalid(m.to_numpy(dtype=float))
    cm = plt.get_cmap(cmap).with_extremes(bad="#dddddd")
    im = ax.imshow(data, cmap=cm, norm=norm, aspect="auto")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            v = m.iat[i, j]
            if not np.isfinite(v):
                ax.text(j, i, "not\nmodelled", ha="center", va="center", fontsize=8, color="#555555")
                continue
            rgba = cm(norm(max(v, norm.vmin)) if isinstance(norm, LogNorm) else norm(v))
            lum = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
            ax.text(j, i, fmt_bn(v, signed), ha="center", va="center", fontsize=10,
                    color="white" if lum < 0.5 else "black", fontweight="bold" if i == j else None)
    ax.set_xticks(range(m.shape[1]), [c.replace(" of ", "\nof ") for c in m.columns], fontsize=9)
    ax.set_yticks(range(m.shape[0]), list(m.index) if ylabels else [], fontsize=9)
    ax.set_xlabel("buyer (destination)")
    if ylabels:
        ax.set_ylabel("seller (origin)")
    ax.tick_params(length=0)
    return im


def log_norm_for(*matrices: pd.DataFrame) -> LogNorm:
    """A shared log colour scale covering the positive values of all matrices (bn yuan)."""
    vals = np.concatenate([m.to_numpy(dtype=float).ravel() for m in matrices])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    if vals.size == 0:
        return LogNorm(vmin=0.01, vmax=1.0)
    lo, hi = float(vals.min()), float(vals.max())
    if hi <= lo:
        hi = lo * 10
    return LogNorm(vmin=lo, vmax=hi)


def fixed_layout(fig: plt.Figure, left: float, right: float, top: float, bottom: float,
                 wspace: float = 0.0, hspace: float = 0.0, nrows: int = 1, ncols: int = 1) -> None:
    """Place the subplots with margins and gaps given in inches (no layout pass when drawn)."""
    w, h = fig.get_size_inches()
    panel_w = (w - left - right - wspace * (ncols - 1)) / ncols
    panel_h = (h - top - bottom - hspace * (nrows - 1)) / nrows
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h,
                        wspace=wspace / panel_w, hspace=hspace / panel_h)


def save(fig: plt.Figure, path: Path) -> Path:
    """Save ``fig`` as a PNG at :data:`DPI`, atomically (a temporary file moved into place), and
    close it."""
    try:
        write_atomically(Path(path), lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))
    finally:
        plt.close(fig)
    return Path(path)


# ----------------------------------------------------------------------------- figures of one run

def plot_timeseries(regions: pd.DataFrame, path: Path, scenario: str) -> Path:
    """2x3 panels, one per key metric, one fan per region (Beijing, Tianjin, Hebei)."""
    sub = regions[regions["region"].isin(REGIONS) & regions["metric"].isin(KEY_METRICS)]
    q = seed_quantiles(sub, ["metric", "region", "year"])
    n_seeds = regions["seed"].nunique()
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5), sharex=True)
    # inches: the title and legend row on top, axis titles, tick labels up to "300,000" + unit
    fixed_layout(fig, left=1.0, right=0.15, top=1.05, bottom=0.85, wspace=1.05, hspace=0.5,
                 nrows=2, ncols=3)
    for ax, metric in zip(axes.ravel(), KEY_METRICS):
        title, unit = METRICS[metric].title, METRICS[metric].unit
        for region in REGIONS:
            qr = q[(q["metric"] == metric) & (q["region"] == region)]
            if len(qr):
                draw_fan(ax, qr, REGION_COLOURS[region], label=region)
        ax.set_title(title, fontsize=11)
        ax.set_ylabel(unit if unit == "firms" else f"{unit} per year")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        thousands(ax)
        if not ax.lines:
            ax.text(0.5, 0.5, "metric not in results", transform=ax.transAxes, ha="center", color="grey")
    for ax in axes[-1]:
        ax.set_xlabel("year")
    years = regions["year"]
    if len(years) and years.max() - years.min() >= 10:  # ticks at the Five-Year Plans' ends
        axes[0, 0].xaxis.set_major_locator(MultipleLocator(5))  # (shared by every panel)
    for ax in axes.ravel():  # about six round y ticks: fewer tick artists to draw
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    handles, _ = axes.ravel()[0].get_legend_handles_labels()
    h = fig.get_size_inches()[1]
    fig.text(0.1 / 15, 1 - 0.08 / h, f"Scenario \u201c{scenario}\u201d: regional indicators",
             ha="left", va="top", fontsize=13)
    if handles:
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.05 / 15, 1 - 0.36 / h),
                   ncol=3, frameon=False, fontsize=9.5, borderaxespad=0.0)
    fig.text(0.1 / 15, 0.08 / h, f"{n_seeds} seed{'s' if n_seeds != 1 else ''}; {BAND_NOTE}.",
             ha="left", va="bottom", fontsize=8.5, color="#444444")
    return save(fig, path)


def plot_od(flows: pd.DataFrame, year: int, path: Path, scenario: str) -> Path:
    """Annotated origin-destination heatmap of the seed-mean contract value in ``year``."""
    m = od_mean(flows, year)
    n_seeds = flows.loc[flows["year"] == year, "seed"].nunique()
    fig = plt.figure(figsize=(8, 6.2))
    # inches: title (two lines) on top, column names and axis label below, the colour bar right
    w, h = fig.get_size_inches()
    left, bottom, right, top = 1.25, 0.9, 1.75, 0.7
    ax_h = h - bottom - top
    ax = fig.add_axes((left / w, bottom / h, (w - left - right) / w, ax_h / h))
    cax = fig.add_axes(((w - 1.2) / w, (bottom + 0.075 * ax_h) / h, 0.2 / w, 0.85 * ax_h / h))
    norm = log_norm_for(m)
    im = draw_od_matrix(ax, m, norm)
    cb = fig.colorbar(im, cax=cax)
    cb.set_label("contract value, bn yuan per year (log colour scale)")
    plain_log_ticks(cb)
    ax.set_title(f"Scenario \u201c{scenario}\u201d: technology contracts by origin and destination, {year}\n"
                 f"mean of {n_seeds} seed{'s' if n_seeds != 1 else ''}, bn yuan", fontsize=11)
    fig.text(0.08 / w, 0.08 / h, "Row = where the selling lab/firm is; column = where the buyer is. "
             "Diagonal (bold) = trade within a region.", ha="left", va="bottom", fontsize=8.5,
             color="#444444")
    return save(fig, path)


def plot_run(run_dir: Path, od_years: tuple[int, ...] | None = None) -> list[Path]:
    """Write the figures of one run folder into it and return their paths.

    * ``timeseries.png``: key metrics by region over time (median, 50% and 90% seed bands);
    * ``od_matrix_<year>.png``: contract value by origin and destination (bn yuan, seed mean)
      for the last year, and 2024 if present (or for ``od_years``).
    """
    run_dir = Path(run_dir)
    run = open_run(run_dir)
    regions, flows = run.regions, run.flows
    scenario = scenario_name(regions, run_dir.name)
    out = [plot_timeseries(regions, run_dir / "timeseries.png", scenario)]
    years = sorted(int(y) for y in flows["year"].unique())
    if od_years is None:
        od_years = tuple(y for y in (2024, years[-1] if years else None) if y in years)
    for year in dict.fromkeys(od_years):  # keep order, drop duplicates
        out.append(plot_od(flows, year, run_dir / f"od_matrix_{year}.png", scenario))
    return out
