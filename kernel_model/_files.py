"""Safe reading of the files a user names (configs, profiles, measurements).

A path is read only if it is a regular file no larger than a limit: ``/dev/zero`` or a
directory is refused at once, a FIFO is refused without blocking (it is never opened
for reading), and a huge file is refused before anything is read. Every refusal is a
``ValueError`` naming what the file was for, the path and what is allowed.

    from kernel_model._files import read_text_file, check_file, MAX_CONFIG_BYTES
    text = read_text_file(path, MAX_CONFIG_BYTES, "config file")
"""
from __future__ import annotations

import os
import stat

MAX_CONFIG_BYTES = 16 * 2**20        # config.json, YAML, calibration profiles: 16 MiB
MAX_TABLE_BYTES = 2 * 2**30          # measurement CSVs: 2 GiB (~10 million rows)


def _kind(mode) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _size(n: int) -> str:
    for unit, f in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= f:
            return f"{n / f:.3g} {unit}"
    return f"{n} bytes"


def _check_stat(st, path, max_bytes, what) -> int:
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{what} {path!r} is {_kind(st.st_mode)}; give a regular file")
    if st.st_size > max_bytes:
        raise ValueError(f"{what} {path!r} is {_size(st.st_size)}; at most {_size(max_bytes)} "
                         f"is allowed")
    return st.st_size


def check_file(path, max_bytes: int, what: str = "file") -> int:
    """The size in bytes of ``path`` if it is a regular file of at most ``max_bytes``;
    otherwise ``ValueError`` (missing, a directory / FIFO / device, too large)."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ValueError(f"{what} {path!r} does not exist") from None
    except OSError as e:
        raise ValueError(f"{what} {path!r} cannot be read ({e.strerror or e})") from None
    return _check_stat(st, path, max_bytes, what)


def read_text_file(path, max_bytes: int = MAX_CONFIG_BYTES, what: str = "file",
                   encoding: str = "utf-8") -> str:
    """The text of ``path`` if it is a regular file of at most ``max_bytes`` bytes.

    Checked before opening and again on the opened descriptor (opened non-blocking, so
    a path swapped for a FIFO in between cannot block); at most ``max_bytes + 1`` bytes
    are read, so a file growing meanwhile cannot exhaust memory. Raises ``ValueError``
    naming ``what``, the path and the limit; undecodable text is a ``ValueError`` too.
    """
    path = os.fspath(path)
    check_file(path, max_bytes, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise ValueError(f"{what} {path!r} cannot be read ({e.strerror or e})") from None
    with os.fdopen(fd, "rb") as f:
        _check_stat(os.fstat(fd), path, max_bytes, what)
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{what} {path!r} is larger than {_size(max_bytes)}; at most "
                         f"{_size(max_bytes)} is allowed")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        raise ValueError(f"{what} {path!r} is not {encoding} text (byte {e.start})") from None
    return text[1:] if text.startswith("\ufeff") else text


def write_text_atomic(path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file next to it, renamed into place:
    an interrupted write never leaves half a file (the temporary one is removed)."""
    from pathlib import Path
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
