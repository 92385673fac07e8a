"""Read one image a manifest names, and no more than that: bounded, and remote only where
the operator allowed it.

A manifest comes from someone else. A path stays inside the images root (``paths``); a
file's size is checked before it is read, and a read stops one byte past the limit; a
remote URI is fetched only when one of the allowed prefixes (``--allow-remote``) starts it,
and an http(s) URI never from a loopback, link-local, private or otherwise non-public
address: each host is resolved and judged before a request is sent, again for every
redirect, which must itself be allowed.

A fetch that times out, cannot connect or gets 429/5xx is retried with exponential backoff
(urllib3's ``Retry``, the library requests itself uses); one that still fails is
quarantined as ``remote_unavailable``, a reason the next ingest of the manifest retries
(``RETRYABLE_REASONS``), never as a bad row.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from pipeline.core import storage
from pipeline.core.http import TRANSIENT_STATUSES
from pipeline.core.settings import is_local
from pipeline.ingest.images import ImageRejected
from pipeline.ingest.paths import resolve

DEFAULT_MAX_BYTES = 50_000_000   # a 50 MB image file is far beyond any catalogue photo
HTTP_TIMEOUT_S = 10.0
MAX_REDIRECTS = 5
CHUNK_BYTES = 1 << 16
FETCH_RETRIES = 3              # after the first try: waits of 0.5, 1 and 2 s
RETRY_STATUSES = TRANSIENT_STATUSES
# Quarantine reasons for faults that may pass: the rows are tried again by the next ingest
# of the same manifest (the ingest DAG lists such manifests again, a bounded number of times).
RETRYABLE_REASONS = ("remote_unavailable",)


@dataclass(frozen=True)
class ReadPolicy:
    """What the decoders may read: the images root, a size limit, allowed remote prefixes."""

    images_root: str
    max_bytes: int = DEFAULT_MAX_BYTES
    allow_remote: tuple[str, ...] = ()
    timeout_s: float = HTTP_TIMEOUT_S


def read_image(ref: str, policy: ReadPolicy) -> bytes:
    """The bytes ``ref`` names, or ``ImageRejected`` with the reason."""
    location = resolve(ref, policy.images_root)  # a scheme other than a store's: escapes
    if "://" in ref:
        _check_allowed(ref, policy)
    try:
        if location.startswith(("http://", "https://")):
            return _http_get(ref, location, policy)
        if is_local(location):
            return _read_local(ref, location, policy.max_bytes)
        return _read_object(ref, location, policy.max_bytes)
    except FileNotFoundError:
        raise ImageRejected("unreadable_path", f"{ref!r}: no such file (looked for "
                                               f"{location})") from None
    except IsADirectoryError:
        raise ImageRejected("unreadable_path", f"{ref!r} is a directory") from None
    except OSError as err:
        raise ImageRejected("unreadable_path", f"{ref!r}: {err.strerror or err}") from None


def _check_allowed(uri: str, policy: ReadPolicy) -> None:
    if not any(uri.startswith(prefix) for prefix in policy.allow_remote):
        raise ImageRejected("remote_not_allowed",
                            f"{uri!r}: remote images are read only under a prefix given with "
                            "--allow-remote (or STYLECAST_ALLOW_REMOTE)")


def _too_large(ref: str, size: int, limit: int, exact: bool = True) -> ImageRejected:
    what = f"{size} bytes" if exact else f"over {limit} bytes"
    return ImageRejected("file_too_large", f"{ref!r} is {what}; the limit is {limit} bytes "
                                           "(--max-bytes)")


def _read_local(ref: str, path: str, limit: int) -> bytes:
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise _too_large(ref, size, limit)
        # One byte past the size seen: a file that grew since is noticed and cut off. (Not
        # limit + 1: Python allocates what read() is asked for, 50 MB an image.)
        data = handle.read(size + 1)
        if len(data) > size:
            data += handle.read(limit + 1 - len(data))
    if len(data) > limit:
        raise _too_large(ref, len(data), limit, exact=False)
    return data


def _read_object(ref: str, uri: str, limit: int) -> bytes:
    fs, path = storage.filesystem(uri)
    size = fs.info(path).get("size")
    if size is not None and size > limit:
        raise _too_large(ref, int(size), limit)
    with fs.open(path, "rb") as handle:
        data = handle.read(min(limit, int(size)) + 1 if size is not None else limit + 1)
    if len(data) > limit:
        raise _too_large(ref, len(data), limit, exact=False)
    return data


def public_address(host: str, port: int) -> str:
    """The first address ``host`` resolves to, if every one is public; else a rejection."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise ImageRejected("unreadable_path", f"{host}: cannot resolve ({err})") from None
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0])
        if not address.is_global or address.is_multicast:
            raise ImageRejected("unreadable_path",
                                f"{host} resolves to {address}, a loopback, link-local, "
                                "private or reserved address: never fetched")
    return found[0][4][0]


def _session():
    """Transient faults retried by the session; a status still failing is ours to report."""
    from pipeline.core.http import retrying_session

    return retrying_session(FETCH_RETRIES, ("GET",), raise_on_status=False)


def _http_get(ref: str, url: str, policy: ReadPolicy) -> bytes:
    import requests

    with _session() as session:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if not parts.hostname:
                raise ImageRejected("unreadable_path", f"{url!r}: no host")
            public_address(parts.hostname,
                           parts.port or (443 if parts.scheme == "https" else 80))
            try:
                response = session.get(url, stream=True, allow_redirects=False,
                                       timeout=policy.timeout_s)
            except (requests.ConnectionError, requests.Timeout) as err:
                raise ImageRejected("remote_unavailable",
                                    f"{ref!r}: fetch failed after {FETCH_RETRIES + 1} tries "
                                    f"({type(err).__name__}); retried at the next ingest"
                                    ) from None
            except requests.RequestException as err:
                raise ImageRejected("unreadable_path",
                                    f"{ref!r}: fetch failed ({type(err).__name__})") from None
            with response:
                if response.is_redirect:
                    url = urljoin(url, response.headers["location"])
                    _check_allowed(url, policy)
                    continue
                if response.status_code in RETRY_STATUSES:
                    raise ImageRejected("remote_unavailable",
                                        f"{ref!r}: HTTP {response.status_code} after "
                                        f"{FETCH_RETRIES + 1} tries; retried at the next ingest")
                if response.status_code != 200:
                    raise ImageRejected("unreadable_path",
                                        f"{ref!r}: HTTP {response.status_code}")
                return _bounded_body(ref, response, policy.max_bytes)
    raise ImageRejected("unreadable_path", f"{ref!r}: more than {MAX_REDIRECTS} redirects")


def _bounded_body(ref: str, response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(ref, int(declared), limit)
    body = bytearray()
    for chunk in response.iter_content(CHUNK_BYTES):
        body += chunk
        if len(body) > limit:
            raise _too_large(ref, len(body), limit, exact=False)
    return bytes(body)
