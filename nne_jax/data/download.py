"""Download one file from a list of mirrors into a directory, verified and atomically."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from nne_jax.data.errors import DataError

__all__ = ["DownloadError", "download_file"]

_CHUNK = 1 << 20
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

    Returns:
      The path of the downloaded file.

    Raises:
      DownloadError: all mirrors failed; the message lists each URL and reason.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    failures = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + name
        try:
            data = _fetch(url, timeout)
            _check(data, url, sha256, validate)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            failures.append(f"{url}: {_reason(e).removeprefix(url + ': ')}")
            continue
        return _write_atomic(dest_dir / name, data)
    raise DownloadError(name, failures)


def _fetch(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        chunks = list(iter(lambda: response.read(_CHUNK), b""))
        length = response.headers.get("Content-Length")
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


def _write_atomic(path: Path, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable; not possible everywhere
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        return f"connection failed ({e.reason})"
    if isinstance(e, ValueError):  # DataError, or a malformed URL
        return str(e)
    return f"{type(e).__name__}: {e}"
