"""Measurement scripts: each times or counts one thing a README quotes (most in results/README.md), run as
`python tests/measurements/NAME.py` (not collected by pytest: no test_ prefix)."""
