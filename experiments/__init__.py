"""Ensembles, storage, plots and comparison of model runs.

* :mod:`experiments.api` - Python API: ``load_scenario``, ``scenario_with``, ``run_ensemble``,
  ``load_results`` (use this from notebooks).
* :mod:`experiments.ensemble` - executing runs serially, on local processes or on Dask.
* :mod:`experiments.store` - the files of a run folder ``OUT/<scenario>/`` (atomic writes).
* :mod:`experiments.cli` - the ``bth`` command, a thin layer over the API.
* :mod:`experiments.plots`, :mod:`experiments.compare` - figures and the comparison report.
"""
