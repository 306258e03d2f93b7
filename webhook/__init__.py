"""stsmesh: a mutating admission webhook that makes StatefulSet apps work inside a service mesh.

The package is one pure core (parsing, the should-we-mutate decision, the mesh context, the rules and
response building, all on plain dicts) and thin edges (aiohttp server, TLS, CLI, logging, metrics).
See README.md, section "Architecture", for the layering that import-linter enforces.
"""

__version__ = "0.1.0"
