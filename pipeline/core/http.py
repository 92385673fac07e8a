"""HTTP sessions that retry transient faults themselves (urllib3's ``Retry``, the library
requests uses): connection errors, timeouts and the listed statuses, with backoff."""

from __future__ import annotations

TRANSIENT_STATUSES = (429, 500, 502, 503, 504)


def retrying_session(retries: int, methods: tuple[str, ...], backoff: float = 0.5,
                     statuses: tuple[int, ...] = TRANSIENT_STATUSES,
                     raise_on_status: bool = True):
    """A ``requests.Session`` retrying ``methods`` up to ``retries`` times. Redirects are the
    caller's to judge, and a server's Retry-After is not obeyed (one host must not stall a
    job for an hour)."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(total=retries, connect=retries, read=retries, status=retries,
                  redirect=False, backoff_factor=backoff, status_forcelist=statuses,
                  allowed_methods=methods, raise_on_status=raise_on_status,
                  respect_retry_after_header=False)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
