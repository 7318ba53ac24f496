"""Keep freed blob buffers in the C heap instead of handing them back to the kernel.

Streaming a blob allocates and frees buffers of about a read's size (1 MiB) several
times per read: asyncio's receive, h11's receive buffer and its slices, httpcore's
`bytes()`, the request body. Left to its dynamic thresholds, glibc's malloc keeps
returning such buffers to the kernel (`mmap`/`munmap`, heap trimming) and faulting
them in again: about 85,000 minor page faults for a 512 MiB copy, which py-spy
showed as h11's 27 % of the CPU (the copies themselves are cheap in warm memory).
Fixed thresholds keep up to `TRIM_BYTES` of freed heap for the next buffer: 15,000
faults and about 0.2 s less CPU for that copy (bench/results.md).
"""

from __future__ import annotations

import os
import sys

#: mallopt(3) parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
#: Allocations below this come from the heap, not a fresh mapping (32 MiB is glibc's cap).
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Freed heap kept before it is returned to the kernel: what a copy at --jobs 8 churns.
TRIM_BYTES = 64 * 1024 * 1024
#: Heap grown by at least this much at a time, so growing does not fault page by page.
TOP_PAD = 16 * 1024 * 1024


def keep_freed_buffers() -> bool:
    """Set glibc's malloc thresholds for this whole process; False where it is not glibc.

    Like `use_large_reads`, only the CLI and the Action, which own their process, call
    it; a library caller may call it too. It bounds nothing: peak RSS stays what the
    copy holds at once (measured in bench/results.md), the heap is just not trimmed
    below it in between.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        os.confstr("CS_GNU_LIBC_VERSION")  # musl and others have no such name
    except (ValueError, OSError):
        return False
    import ctypes  # only here: about 3 ms of start-up, for glibc processes

    libc = ctypes.CDLL(None)
    settings = ((_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_BYTES), (_M_TOP_PAD, TOP_PAD))
    return all(libc.mallopt(parameter, value) == 1 for parameter, value in settings)
