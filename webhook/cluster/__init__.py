"""The cluster edge: the Kubernetes client (the only place besides the per-pod controller that
imports ``kubernetes``), the objects stsmesh writes, the audit of running pods and the cluster
commands (certs, register, enable, status, audit)."""
