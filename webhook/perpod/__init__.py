"""Per-pod addressing: the per-pod Services (and the Istio objects a version needs) for a
StatefulSet, rendered as plain dicts, the controller that keeps them in step with replicas, and
the ``render per-pod`` command."""
