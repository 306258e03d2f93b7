"""Tests of the server edge: HTTP handling, TLS and reload, logging, graceful shutdown."""
