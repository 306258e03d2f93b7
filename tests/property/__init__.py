"""Hypothesis property tests of review()."""
