"""Ensembles, storage, plots and comparison of model runs.

* :mod:`experiments.api` - Python API: ``load_scenario``, ``scenario_with``, ``run_ensemble``,
  ``load_results`` (use this from notebooks and scripts, under an ``if __name__ == "__main__":``).
* :mod:`experiments.executor` - the one executor (in-process, local processes or Dask), shared
  with the calibration; :mod:`experiments.ensemble` - model runs as its tasks.
* :mod:`experiments.store` - the files of a run folder ``OUT/<scenario>/`` (atomic writes,
  checksums, compatibility, :func:`~experiments.store.open_run`, the one reader);
  :mod:`experiments.lock` - one writer per run folder.
* :mod:`experiments.cli` - the ``bth`` command, a thin layer over the API.
* :mod:`experiments.plots` - figures of one run folder (drawn only when their tables or the
  plotting code changed: :func:`experiments.ensemble.draw_plots`, ``plots.json``).
* :mod:`experiments.bench_cli` - wall times of ``bth --help``, a one-seed ``bth run`` and a
  resumed no-op (for ``bth bench``).

Importing ``experiments.cli``, ``store``, ``ensemble``, ``executor`` or ``lock`` imports neither
pandas nor the model: ``bth --help`` pays for neither (``experiments.api`` imports both).
* The comparison: :mod:`experiments.compare` (orchestrator), :mod:`experiments.outcomes` (what is
  compared), :mod:`experiments.effects` (paired differences), :mod:`experiments.figures`,
  :mod:`experiments.report` (HTML from the jinja2 templates in ``experiments/templates/``).
"""
