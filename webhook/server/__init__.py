"""The server edge: the aiohttp HTTPS app around :func:`webhook.core.admission.review`, TLS and
certificate reloading, metrics, logging, memory upkeep and the process lifecycle."""
