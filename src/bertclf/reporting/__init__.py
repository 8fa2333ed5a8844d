"""Reporting: plots and text tables of what a run measured."""
