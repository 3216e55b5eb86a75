"""Reliability scenarios (issue 5): shared by tests/reliability (fast forms) and run.py (heavy forms)."""
