"""The ``stsmesh`` command line: argument parsing, files and standard input, printing and exit
codes, and the dry-run's explanation. It sits on top and calls the server, cluster and per-pod
edges, which call the core."""
