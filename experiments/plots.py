"""Figures of one run folder: regional time series with seed bands, and the flow matrix.

Reads a run folder with :func:`experiments.store.open_run` (tables ``scenario, seed, year,
region, metric, value`` and ``scenario, seed, year, origin, destination, contract_value_bn,
contracts``, both at real-world scale) and writes PNG files next to them.  Money is in billion
yuan ("bn yuan"), counts are firms.  Metric titles and units come from :mod:`model.metrics`,
regions from :mod:`model.regions`.

The drawing helpers here (:func:`seed_quantiles`, :func:`draw_od_matrix`, :func:`thousands` ...)
are shared with :mod:`experiments.figures` and :mod:`experiments.app_views`.

The figures of a run folder are drawn as cheaply as matplotlib allows, since ``bth run`` waits
for them (issue 10):

* plain :class:`matplotlib.figure.Figure` objects rendered by the Agg canvas, without pyplot (its
  import and figure bookkeeping are not needed to write a PNG);
* a fixed layout (margins in inches, :func:`fixed_layout`), not constrained layout, and titles
  at a given height (``y=1.0``), so no layout or title-placement pass: each figure is drawn
  once, when it is saved;
* the bands of a panel in one collection (:func:`draw_fans`) rather than two artists per fan;
* PNG files compressed with a fast zlib level (:data:`PNG_COMPRESS_LEVEL`).

Each PNG is written atomically (:func:`save`).  Which folders need drawing at all is decided by
:func:`experiments.ensemble.draw_plots` (``plots.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import LogNorm, to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, MultipleLocator

from experiments.outcomes import KEY_METRICS, describe_runs, run_count
from experiments.store import open_run, write_atomically
from model.metrics import METRICS
from model.regions import FLOW_REGIONS, REGIONS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

DPI = 110
# zlib level of the PNG files: 1 encodes about twice as fast as the default (6), for files
# about 12% larger (flat colours compress well at any level).
PNG_COMPRESS_LEVEL = 1
REGION_COLOURS = {"Beijing": "#c0392b", "Tianjin": "#2471a3", "Hebei": "#1e8449"}  # one per REGIONS

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
Q_COLS = ("q05", "q25", "q50", "q75", "q95")
BAND_NOTE = "line = median across runs (seeds, and parameter draws where the run has them); dark band = middle 50% of runs; light band = 90% (5th-95th percentile)"


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

def thousands(ax: Axes) -> None:
    """Format the y axis with thousands separators (1,000 not 1000 or 1e3)."""
    ax.yaxis.set_major_formatter(FuncFormatter(
        lambda v, _: "0" if v == 0 else f"{v:,.0f}" if abs(v) >= 10 else f"{v:,.1f}"))


def finish(fig: Figure, title: str, note: str, handles=None, ncol: int = 4) -> None:
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


def band_polygons(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[np.ndarray]:
    """Vertices of the area between ``lo`` and ``hi`` over ``x``: one polygon per run of finite
    values (as ``fill_between`` splits it at missing values)."""
    finite = np.ma.masked_array(x, ~(np.isfinite(lo) & np.isfinite(hi)))
    return [np.concatenate([np.column_stack([x[s], lo[s]]), np.column_stack([x[s], hi[s]])[::-1]])
            for s in np.ma.clump_unmasked(finite)]


def draw_fans(ax: Axes, fans: list[tuple[pd.DataFrame, str, str | None]]) -> None:
    """Median lines with 50% and 90% bands, one fan per ``(q, colour, label)``; each ``q`` has
    ``year`` and ``q05..q95`` columns.

    The bands of all fans are one collection, drawn in the order given (each fan's 90% band,
    then its 50% band) under the median lines: what ``fill_between`` per band draws, with one
    artist per panel instead of two per fan.  (Band edges can differ from ``fill_between``'s
    by a fraction of a pixel: Agg draws a one-polygon collection snapped to whole pixels.)"""
    verts, colours = [], []
    for q, colour, label in fans:
        q = q.sort_values("year")
        x = q["year"].to_numpy(dtype=float)
        for lo, hi, alpha in (("q05", "q95", 0.13), ("q25", "q75", 0.30)):
            polygons = band_polygons(x, q[lo].to_numpy(dtype=float), q[hi].to_numpy(dtype=float))
            verts += polygons
            colours += [to_rgba(colour, alpha)] * len(polygons)
        ax.plot(x, q["q50"].to_numpy(dtype=float), color=colour, label=label, lw=2)
    if verts:
        ax.add_collection(PolyCollection(verts, facecolors=colours, linewidths=0))
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


def draw_od_matrix(ax: Axes, m: pd.DataFrame, norm, cmap: str = "YlOrRd", signed: bool = False,
                   ylabels: bool = True):
    """Annotated heatmap of an origin x destination matrix in bn yuan; returns the image.

    NaN cells (pairs not modelled) are grey with the note "not modelled".  ``signed`` labels
    cells as changes (+12.3, 0); ``ylabels=False`` hides the row names (for panels on the right).
    """
    data = np.ma.masked_invalid(m.to_numpy(dtype=float))
    cm = colormaps[cmap].with_extremes(bad="#dddddd")
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


def fixed_layout(fig: Figure, left: float, right: float, top: float, bottom: float,
                 wspace: float = 0.0, hspace: float = 0.0, nrows: int = 1, ncols: int = 1) -> None:
    """Place the subplots with margins and gaps given in inches (no layout pass when drawn)."""
    w, h = fig.get_size_inches()
    panel_w = (w - left - right - wspace * (ncols - 1)) / ncols
    panel_h = (h - top - bottom - hspace * (nrows - 1)) / nrows
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h,
                        wspace=wspace / panel_w, hspace=hspace / panel_h)


def ticks_in_view(axis) -> None:
    """Fix the ticks of ``axis`` (a matplotlib Axis) to the locations its locator gives inside
    the view limits (call once the limits are final).  The same ticks are drawn; matplotlib
    would also build a tick (two lines, two labels) for each location just outside them."""
    lo, hi = sorted(axis.get_view_interval())
    slack = 1e-10 * (hi - lo)
    locs = axis.get_major_locator()()
    axis.set_major_locator(FixedLocator([v for v in locs if lo - slack <= v <= hi + slack]))


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches on the Agg canvas (no pyplot: nothing to close)."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: Path) -> Path:
    """Save ``fig`` as a PNG at :data:`DPI` (zlib level :data:`PNG_COMPRESS_LEVEL`), atomically
    (a temporary file moved into place)."""
    write_atomically(Path(path), lambda tmp: fig.savefig(
        tmp, dpi=DPI, format="png", pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL}))
    return Path(path)


# ----------------------------------------------------------------------------- figures of one run

def plot_timeseries(regions: pd.DataFrame, path: Path, scenario: str) -> Path:
    """2x3 panels, one per key metric, one fan per region (Beijing, Tianjin, Hebei)."""
    sub = regions[regions["region"].isin(REGIONS) & regions["metric"].isin(KEY_METRICS)]
    q = seed_quantiles(sub, ["metric", "region", "year"])
    runs = run_count(regions)
    fig = new_figure(15, 8.5)
    axes = fig.subplots(2, 3, sharex=True)
    # inches: the title and legend row on top, axis titles, tick labels up to "300,000" + unit
    fixed_layout(fig, left=1.0, right=0.15, top=1.05, bottom=0.85, wspace=1.05, hspace=0.5,
                 nrows=2, ncols=3)
    by_panel = {key: panel for key, panel in q.groupby(["metric", "region"], sort=False)}
    for ax, metric in zip(axes.ravel(), KEY_METRICS):
        title, unit = METRICS[metric].title, METRICS[metric].unit
        draw_fans(ax, [(by_panel[(metric, region)], REGION_COLOURS[region], region)
                       for region in REGIONS if (metric, region) in by_panel])
        ax.set_title(title, fontsize=11, y=1.0)  # y given: no title-placement pass
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
    for axis in [axes[0, 0].xaxis] + [ax.yaxis for ax in axes.ravel()]:  # (x shared by all)
        ticks_in_view(axis)
    handles, _ = axes.ravel()[0].get_legend_handles_labels()
    h = fig.get_size_inches()[1]
    fig.text(0.1 / 15, 1 - 0.08 / h, f"Scenario \u201c{scenario}\u201d: regional indicators",
             ha="left", va="top", fontsize=13)
    if handles:
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.05 / 15, 1 - 0.36 / h),
                   ncol=3, frameon=False, fontsize=9.5, borderaxespad=0.0)
    fig.text(0.1 / 15, 0.08 / h, f"{runs}; {BAND_NOTE}.",
             ha="left", va="bottom", fontsize=8.5, color="#444444")
    return save(fig, path)


def plot_od(flows: pd.DataFrame, year: int, path: Path, scenario: str) -> Path:
    """Annotated origin-destination heatmap of the seed-mean contract value in ``year``."""
    m = od_mean(flows, year)
    runs = run_count(flows.loc[flows["year"] == year])
    fig = new_figure(8, 6.2)
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
                 f"mean of {runs}, bn yuan", fontsize=11, y=1.0)
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
