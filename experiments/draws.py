"""Posterior draws for ensembles: which draws of ``calibration/posterior.parquet`` a run uses,
and the parameters of a scenario at one draw.

The posterior file (written by ``bth posterior``, ``calibration/posterior.py``) has one row per
draw: ``draw`` (a whole number id, unique), ``weight`` (>= 0, summing to 1) and one column per
free parameter (``calibration.space.FREE``, in value units).

Which draws (:func:`choose_draws`): a weighted sample *without replacement*, drawn with a fixed
seed (:data:`SELECTION_SEED`) by exponential keys (Efraimidis & Spirakis 2006): each draw ``i``
gets the key ``E_i / w_i`` with ``E_i`` a standard exponential variate from
``numpy.random.default_rng(SELECTION_SEED)`` (one per row, in the file's row order), and the ``K``
draws with the smallest keys are taken, in that order.  Draws of zero weight are never taken.  So
the choice depends only on the file (its rows and weights) and ``K``, and the first ``K`` draws of
a larger ``K'`` are the ``K`` draws (asking for more draws adds draws, it does not change them).

A scenario at a draw (:func:`draw_params`): the calibrated point estimate with the draw's free
parameters in its place, then the scenario's ``[levers]`` and ``[parameters]`` on top, as
:mod:`scenarios.loader` builds a scenario from the calibrated values::

    Params().replace(**{**calibrated, **draw}).replace(**levers, **parameters)

Importing this module is cheap (numpy and pandas are imported when a posterior is read).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
POSTERIOR_FILE = ROOT / "calibration" / "posterior.parquet"  # the default posterior
SELECTION_SEED = 20_250_612  # seed of the draw selection (fixed: the same file gives the same draws)
SELECTION = f"weighted sample without replacement, exponential keys, seed {SELECTION_SEED}"
MAKE_IT = "bth posterior"  # the command that writes the posterior file


class PosteriorError(ValueError):
    """The posterior file is missing, unreadable or malformed, or has too few draws (one line
    naming the file)."""


@dataclass(frozen=True)
class Posterior:
    """A posterior file as read: its path, its sha256 and its draws by id."""

    path: Path
    sha256: str
    values: dict[int, dict[str, float]]  # draw id -> {free parameter: value}
    weights: dict[int, float]  # draw id -> weight
    order: tuple[int, ...]  # draw ids in the file's row order

    def __len__(self) -> int:
        return len(self.order)


def shown(path: Path) -> str:
    """``path`` relative to the project when it is inside it (as the messages name it)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def load_posterior(path: str | Path | None = None) -> Posterior:
    """Read and check the posterior file ``path`` (default :data:`POSTERIOR_FILE`).

    Raises :class:`PosteriorError` (one line naming the file) if it is missing ("make it with
    ``bth posterior``"), unreadable, or lacks ``draw``/``weight`` or a free parameter column,
    has a column that is not an uncertain parameter, duplicate draw ids, or bad weights."""
    import numpy as np
    import pandas as pd

    from calibration.space import FREE
    from model.params import UNCERTAIN

    path = Path(path) if path is not None else POSTERIOR_FILE
    where = shown(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PosteriorError(f"{where}: no such file; make it with `{MAKE_IT}` "
                             "(needed by --draws; --draws 0 uses the calibrated point)") from None
    except OSError as err:
        raise PosteriorError(f"{where}: cannot read ({err.strerror or err})") from None
    try:
        table = pd.read_parquet(io.BytesIO(data))
    except Exception as err:  # noqa: BLE001 - any parse failure is a bad file
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise PosteriorError(f"{where}: not a readable parquet file ({first}); "
                             f"make it again with `{MAKE_IT}`") from None
    missing = [c for c in ("draw", "weight", *(p.name for p in FREE)) if c not in table.columns]
    if missing:
        raise PosteriorError(f"{where}: missing column(s) {', '.join(missing)}; expected draw, weight "
                             "and one column per free parameter (calibration/space.py FREE)")
    unknown = [c for c in table.columns if c not in ("draw", "weight") and c not in UNCERTAIN]
    if unknown:
        raise PosteriorError(f"{where}: column(s) {', '.join(map(str, unknown))} are not uncertain "
                             "parameters (UNCERTAIN in model/params.py)")
    if table.empty:
        raise PosteriorError(f"{where}: no draws")
    ids = table["draw"].to_numpy()
    if not np.issubdtype(ids.dtype, np.integer) or (ids < 0).any() or len(set(ids.tolist())) != len(ids):
        raise PosteriorError(f"{where}: draw: expected distinct whole numbers >= 0")
    weights = table["weight"].to_numpy(dtype=float)
    if not np.isfinite(weights).all() or (weights < 0).any() or not np.isclose(weights.sum(), 1.0, atol=1e-6):
        raise PosteriorError(f"{where}: weight: expected finite values >= 0 summing to 1, "
                             f"got a sum of {weights.sum():.6g}")
    names = [c for c in table.columns if c not in ("draw", "weight")]
    values = table[names].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise PosteriorError(f"{where}: a parameter value is not a finite number")
    order = tuple(int(i) for i in ids)
    return Posterior(
        path=path, sha256=hashlib.sha256(data).hexdigest(),
        values={d: {n: float(v) for n, v in zip(names, row)} for d, row in zip(order, values)},
        weights={d: float(w) for d, w in zip(order, weights)}, order=order)


def choose_draws(posterior: Posterior, k: int) -> list[int]:
    """The ids of the ``k`` draws an ensemble uses (see the module docstring: a weighted sample
    without replacement by exponential keys with :data:`SELECTION_SEED`), in selection order.

    Raises :class:`PosteriorError` if the posterior has fewer than ``k`` draws of positive weight."""
    import numpy as np

    weights = np.array([posterior.weights[d] for d in posterior.order])
    usable = int((weights > 0).sum())
    if k > usable:
        raise PosteriorError(f"{shown(posterior.path)}: --draws {k} asks for more draws than the "
                             f"{usable} of positive weight there")
    exponential = np.random.default_rng(SELECTION_SEED).standard_exponential(len(weights))
    with np.errstate(divide="ignore"):
        keys = np.where(weights > 0, exponential / weights, np.inf)
    picked = np.argsort(keys, kind="stable")[:k]
    return [posterior.order[i] for i in picked]


def draw_params(scenario: Any, values: dict[str, float]) -> Any:
    """The ``model.Params`` of ``scenario`` at a draw: its calibrated values with ``values`` (the
    draw's free parameters) in their place, then its levers and parameter overrides on top (as
    :mod:`scenarios.loader` builds ``scenario.params`` from the calibrated point)."""
    from model.params import Params

    missing = [a for a in ("calibrated", "levers", "parameters") if not hasattr(scenario, a)]
    if missing:
        raise TypeError(f"{getattr(scenario, 'name', scenario)!r}: draws need a loaded scenario "
                        f"(scenarios.load_scenario); it has no {', '.join(missing)}")
    return Params().replace(**{**scenario.calibrated, **values}).replace(
        **scenario.levers, **scenario.parameters)
