"""Download one file from a list of mirrors into a directory, verified and atomically.

Each file has an overall deadline (``deadline`` seconds over all mirrors and reads, so a server that
trickles bytes is cut off), a progress line on stderr every few seconds for a long download, and
``NNE_OFFLINE=1`` (``nne-jax run --offline``) turns the network off: nothing is fetched.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from nne_jax.data.errors import DataError
from nne_jax.records import write_atomic

__all__ = ["DownloadError", "download_file", "offline", "OFFLINE_REASON"]

_CHUNK = 1 << 16
_PROGRESS_EVERY = 5.0  # seconds between progress lines
OFFLINE_REASON = "downloads disabled (offline: NNE_OFFLINE=1 or --offline)"


def offline() -> bool:
    """True when ``$NNE_OFFLINE`` is set to anything but ``""``/``0``/``false``: never touch the network."""
    return os.environ.get("NNE_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")
_USER_AGENT = "nne_jax/0.1 (python urllib)"


class DownloadError(DataError):
    """Every mirror failed for one file; ``failures`` holds one ``"url: reason"`` per try."""

    def __init__(self, name: str, failures: list[str]):
        self.name = name
        self.failures = failures
        detail = "; ".join(failures) if failures else "no mirrors given"
        super().__init__(f"could not download {name}: {detail}")


def download_file(
    name: str,
    dest_dir: str | os.PathLike,
    mirrors: Sequence[str],
    *,
    sha256: str | None = None,
    validate: Callable[[bytes, str], None] | None = None,
    timeout: float = 30.0,
    deadline: float = 300.0,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Fetch ``name`` from the first mirror that serves a good copy; write ``dest_dir/name``.

    Mirrors are tried in order (URL = mirror base + ``name``). A try fails on
    an HTTP or connection error, a body shorter than its Content-Length, a
    sha256 other than ``sha256`` (when given), or ``validate(data, url)``
    raising :class:`DataError`; the next mirror is then tried. The file is
    written to a temporary file in ``dest_dir``, fsynced and moved into place
    with :func:`os.replace`, so ``dest_dir/name`` only ever holds a complete,
    verified file (the body is held in memory; MNIST files are at most 10 MB).
    ``validate`` also runs on a sha256 mismatch, to say why
    (e.g. "truncated") in the error.

    ``timeout`` bounds each connect and read; ``deadline`` bounds the whole file (all mirrors). A
    download still running after a few seconds prints a progress line (to ``progress``, default
    stderr) every few seconds. With ``NNE_OFFLINE=1`` nothing is fetched.

    Returns:
      The path of the downloaded file.

    Raises:
      DownloadError: all mirrors failed, the deadline passed, or offline; the message lists each URL and reason.
    """
    if offline():
        raise DownloadError(name, [OFFLINE_REASON])
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    failures = []
    end = time.monotonic() + deadline
    for base in mirrors:
        url = base.rstrip("/") + "/" + name
        if time.monotonic() >= end:
            failures.append(f"{url}: not tried, the {deadline:g} s deadline for {name} had passed")
            continue
        try:
            data = _fetch(url, timeout, end, deadline, progress or _stderr_line)
            _check(data, url, sha256, validate)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            failures.append(f"{url}: {_reason(e).removeprefix(url + ': ')}")
            continue
        return write_atomic(dest_dir / name, data)
    raise DownloadError(name, failures)


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _fetch(url: str, timeout: float, end: float, deadline: float, progress: Callable[[str], None]) -> bytes:
    """The body of ``url``; raises TimeoutError once monotonic time passes ``end`` (the file's deadline)."""
    try:
        return _fetch_until(url, timeout, end, deadline, progress)
    except TimeoutError as err:  # a socket timeout cut to the deadline says so
        if time.monotonic() >= end - 0.05 and "deadline" not in str(err):
            raise TimeoutError(f"deadline of {deadline:g} s for this file passed") from None
        raise


def _fetch_until(url: str, timeout: float, end: float, deadline: float, progress: Callable[[str], None]) -> bytes:
    start = time.monotonic()
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with urllib.request.urlopen(request, timeout=max(min(timeout, end - start), 0.01)) as response:
        length = response.headers.get("Content-Length")
        chunks: list[bytes] = []
        got, last_note = 0, start
        while True:
            now = time.monotonic()
            if now >= end:
                raise TimeoutError(f"deadline of {deadline:g} s for this file passed after {got} bytes")
            with contextlib.suppress(AttributeError, OSError):  # the next read may wait at most until the deadline
                response.fp.raw._sock.settimeout(max(min(timeout, end - now), 0.01))
            chunk = response.read1(_CHUNK)  # one socket read at most: a trickle cannot hold it past the deadline
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
            if time.monotonic() - last_note >= _PROGRESS_EVERY:
                last_note = time.monotonic()
                total = f" of {int(length) / 1e6:.1f} MB" if length and length.isdigit() else ""
                progress(f"downloading {url}: {got / 1e6:.1f} MB{total} after {last_note - start:.0f} s")
    data = b"".join(chunks)
    if length is not None and length.isdigit() and len(data) != int(length):
        raise DataError(f"truncated download: got {len(data)} of {length} bytes")
    return data


def _check(
    data: bytes, url: str, sha256: str | None, validate: Callable[[bytes, str], None] | None
) -> None:
    got = hashlib.sha256(data).hexdigest()
    if sha256 is not None and got != sha256.lower():
        why = ""
        if validate is not None:
            try:
                validate(data, url)
            except DataError as e:
                why = "; " + str(e).removeprefix(f"{url}: ")
        raise DataError(f"sha256 mismatch: expected {sha256}, got {got} ({len(data)} bytes){why}")
    if validate is not None:
        validate(data, url)


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        return f"connection failed ({e.reason})"
    if isinstance(e, ValueError):  # DataError, or a malformed URL
        return str(e)
    return f"{type(e).__name__}: {e}"
