"""webhook.server memory hygiene: the allocator setting serve applies at start."""

from __future__ import annotations


def test_mmap_threshold_is_pinned_on_glibc() -> None:
    """serve pins glibc's mmap threshold so per-connection TLS buffers go back to the OS (RSS).
    mallopt returns 1 on success; elsewhere (not glibc) the call is skipped and reports False."""
    import platform

    from webhook.server import pin_mmap_threshold

    expected = platform.libc_ver()[0] == "glibc"
    assert pin_mmap_threshold() is expected
