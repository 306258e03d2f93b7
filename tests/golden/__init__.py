"""Golden cases: hand-written StatefulSet pods through review() and the dry-run CLI."""
