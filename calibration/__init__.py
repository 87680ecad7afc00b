"""Calibration of the model's uncertain parameters to sourced targets (method of simulated moments)."""
