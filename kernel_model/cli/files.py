"""Files the command line reads and writes.

Reading: only regular files under a size limit (never a device such as /dev/zero, never a
FIFO that blocks). Writing: never the input, never an existing file unless ``--force``, and
always through a temporary file in the same folder renamed over the target, so an
interrupted run leaves either the old file or the whole new one.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile

from .common import BadInput

MAX_CONFIG_BYTES = 10 * 2 ** 20      # config.json / calibration profile / YAML: 10 MiB
MAX_CSV_BYTES = 2 * 2 ** 30          # measurements CSV: 2 GiB


def check_input_file(flag: str, path: str, limit: int, hint: str = "") -> str:
    """``path`` if it is a regular file of at most ``limit`` bytes; else BadInput naming ``flag``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BadInput(f"{flag} {path!r}: no such file" + (f" ({hint})" if hint else "")) from None
    except OSError as e:
        raise BadInput(f"{flag} {path!r}: cannot read ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        raise BadInput(f"{flag} {path!r}: not a regular file (a device, FIFO or socket is never "
                       f"read)" + (f"; {hint}" if hint else ""))
    if st.st_size > limit:
        raise BadInput(f"{flag} {path!r}: {st.st_size:,} bytes is over the limit of {limit:,} "
                       f"bytes for this kind of file")
    return path


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(flag: str, path: str, force: bool, inputs=()) -> str:
    """Refuse to write ``path`` if it is one of ``inputs``, if its folder is missing, or if it
    exists and ``force`` is False. Returns ``path``."""
    for src in inputs:
        if src and os.path.exists(path) and _same(path, src):
            raise BadInput(f"{flag} {path!r} is the input file; choose another output path")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise BadInput(f"{flag} {path!r}: the folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise BadInput(f"{flag} {path!r} is a folder; give a file name")
    if os.path.lexists(path) and not force:
        raise BadInput(f"{flag} {path!r} already exists; add --force to replace it")
    if not os.access(folder, os.W_OK):
        raise BadInput(f"{flag} {path!r}: the folder {folder!r} is not writable")
    return path


@contextlib.contextmanager
def atomic_path(path: str, flag: str = "output"):
    """Yield a temporary path next to ``path``; on success rename it over ``path``, on any
    error remove it (the target is untouched)."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise BadInput(f"{flag} {path!r}: cannot write ({e.strerror or e})") from None
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        raise BadInput(f"{flag} {path!r}: cannot write ({e.strerror or e})") from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(p):
    try:
        os.remove(p)
    except OSError:
        pass


def write_text(path: str, text: str, flag: str = "output") -> None:
    """Write ``text`` to ``path`` through a temporary file + rename."""
    with atomic_path(path, flag) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
