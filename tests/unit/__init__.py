"""Table-driven unit tests of the pure core (decision, mesh, patch, catalogue) and known-issue reproducers."""
