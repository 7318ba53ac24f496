"""What compressed a layer, told from its first bytes (never the whole blob).

gzip records a hint of its level in the XFL header byte (RFC 1952: 2 for the
slowest, best compression, 4 for the fastest) and the writer's system in the
OS byte (Go's compress/gzip writes 255, zlib on Unix writes 3); zstd frames
start with a magic number. That is enough to say "gzip level 1 -> zstd".
"""

from __future__ import annotations

#: Bytes to read from the start of a layer: gzip's 10-byte header, zstd's magic, tar's "ustar".
PREFIX_BYTES = 512

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_XFL = {2: "best compression (level 9)", 4: "fastest (level 1)", 0: "default or another level"}
_OS = {0: "FAT", 3: "Unix", 7: "Macintosh", 10: "NTFS", 11: "Windows", 255: "unknown OS, as Go writes"}


def describe_compression(prefix: bytes) -> str:
    """A short phrase for the compression a blob starting with `prefix` uses."""
    if prefix.startswith(_GZIP_MAGIC) and len(prefix) >= 10:
        level = _XFL.get(prefix[8], f"XFL {prefix[8]}")
        system = _OS.get(prefix[9], f"OS {prefix[9]}")
        return f"gzip, {level}, {system}"
    if prefix.startswith(_ZSTD_MAGIC):
        return "zstd"
    if prefix[257:262] == b"ustar":
        return "uncompressed tar"
    return "unknown compression"


def compression_of_media_type(media_type: str) -> str | None:
    """The compression a layer media type declares, when it declares one."""
    if media_type.endswith(("+gzip", ".tar.gzip")):
        return "gzip"
    if media_type.endswith(("+zstd", ".tar.zstd")):
        return "zstd"
    if media_type.endswith((".tar", "rootfs.diff.tar")):
        return "uncompressed tar"
    return None
