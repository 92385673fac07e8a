"""Parallel image decoding with bounded memory.

Batches go to a process pool (decoding is CPU-bound; threads would serialise on the GIL for
the PNG encode). At most ``inflight`` batches are outstanding, so results never pile up in
memory when the writer is slower than the decoders: memory stays flat whatever the size of
the catalogue. Results come back in manifest order, which keeps every run's output identical.
"""

from __future__ import annotations

import multiprocessing as mp
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice

from pipeline.core.workers import StoppablePool, reset_inherited_signals
from pipeline.ingest.fetch import ReadPolicy, read_image
from pipeline.ingest.images import ImageLimits, ImageRejected, NormalisedImage, normalise

Outcome = NormalisedImage | ImageRejected
Job = tuple[int, str]  # (manifest row, image reference)

_policy = ReadPolicy(images_root="")
_limits = ImageLimits()


def _init(policy: ReadPolicy, limits: ImageLimits) -> None:
    global _policy, _limits
    _policy, _limits = policy, limits


def _init_worker(policy: ReadPolicy, limits: ImageLimits) -> None:
    reset_inherited_signals()
    _init(policy, limits)


def decode_one(ref: str) -> Outcome:
    try:
        return normalise(read_image(ref, _policy), _limits)
    except ImageRejected as rejected:
        return rejected
    except Exception as err:  # a codec bug must cost one row, not the batch
        return ImageRejected("not_an_image", f"decoder failed: {type(err).__name__}: {err}")


def _decode_batch(batch: list[Job]) -> list[tuple[int, Outcome]]:
    return [(row, decode_one(ref)) for row, ref in batch]


def _batches(jobs: Iterable[Job], size: int) -> Iterator[list[Job]]:
    it = iter(jobs)
    while batch := list(islice(it, size)):
        yield batch


class Decoder:
    """A process pool for decoding; :meth:`map` yields ``(row, outcome)`` in input order."""

    def __init__(self, policy: ReadPolicy, limits: ImageLimits, workers: int,
                 batch_size: int = 64) -> None:
        self.policy, self.limits = policy, limits
        self.workers, self.batch_size = workers, batch_size
        self._pool = None

    def __enter__(self) -> Decoder:
        _init(self.policy, self.limits)
        if self.workers > 1:
            # fork is cheap and safe here (workers only touch Pillow and files); spawn elsewhere.
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            self._pool = StoppablePool(self.workers, _init_worker, (self.policy, self.limits),
                                       context=mp.get_context(method))
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if self._pool is None:
            return
        # Done: let the workers finish and exit. Failed: stop them at once.
        if exc_type is None:
            self._pool.close()
        else:
            self._pool.terminate()
        self._pool.join()

    def map(self, jobs: Iterable[Job]) -> Iterator[tuple[int, Outcome]]:
        if self._pool is None:
            for batch in _batches(jobs, self.batch_size):
                yield from _decode_batch(batch)
            return
        pending: deque = deque()
        for batch in _batches(jobs, self.batch_size):
            pending.append(self._pool.apply_async(_decode_batch, (batch,)))
            if len(pending) >= 4 * self.workers:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()
