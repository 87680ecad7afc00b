"""The model's years, declared once.

A run simulates ``FIRST_YEAR`` (from the initial conditions of the end of 2020) to its horizon,
inclusive.  Calibration targets lie in ``FIRST_YEAR .. CALIBRATION_LAST_YEAR``; a lever changed
before ``CALIBRATION_LAST_YEAR`` alters the calibrated history.
"""

FIRST_YEAR = 2020  # first simulated year (the initial state); the earliest year a schedule may name
MIN_HORIZON = 2021  # earliest allowed horizon (last simulated year)
MAX_HORIZON = 2050  # latest allowed horizon
DEFAULT_HORIZON = 2035  # horizon when a scenario names none
CALIBRATION_LAST_YEAR = 2025  # last year with calibration targets (the seeds' 2025 counts)
# The boundary cost's path (model.market.boundary_friction): boundary_cost + boundary_cost_step up to
# the first knot, falling linearly to boundary_cost at the second, held after.
BOUNDARY_KNOTS = (2022, 2023)
