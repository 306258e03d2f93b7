"""The pure core: an AdmissionReview in, a response out, on plain dicts, with no network, cluster or
HTTP I/O. :func:`webhook.core.admission.review` is the one seam the server, the dry-run and the
audit call. This package is what the mypyc build compiles."""
