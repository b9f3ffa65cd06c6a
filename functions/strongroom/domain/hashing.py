"""Hashing bytes as they stream past: one read pass gives every digest and the size.

Ingest, a node's vote, bag validation and a release's fixity checks all hash what they read;
they wrap the stream in a HashingReader instead of each keeping a loop of its own, so there is
one way to do it and one chunk size. Nothing here opens anything: the caller hands in a stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Protocol, Self

CHUNK = 1 << 20  # bytes per read when streaming: memory stays bounded whatever a file's size


class Readable(Protocol):
    """What a HashingReader needs of the stream it wraps."""

    def read(self, n: int = -1, /) -> bytes: ...


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


def _new(name: str) -> hashlib._Hash:
    try:
        return hashlib.new(name)
    except ValueError:
        raise ValueError(
            f"{name!r} is not a hash this Python knows; use one of {', '.join(sorted(hashlib.algorithms_guaranteed))}"
        ) from None


class HashingReader:
    """A read-only stream over another one that hashes and counts every byte that passes through it.

    ``seed`` gives bytes a named hash takes before the stream's (a poll's nonce, so that a node
    can only answer by reading the bytes it holds now).
    """

    def __init__(self, stream: Readable, names: Iterable[str], *, seed: Mapping[str, bytes] | None = None):
        self.stream = stream
        self.hashes = {name: _new(name) for name in names}
        if not self.hashes:
            raise ValueError("a HashingReader needs at least one hash name, e.g. ('sha256',)")
        for name, data in (seed or {}).items():
            if name not in self.hashes:
                raise ValueError(f"seed names {name!r}, which is not one of the hashes {sorted(self.hashes)}")
            self.hashes[name].update(data)
        self.size = 0

    def _take(self, data: bytes) -> bytes:
        for h in self.hashes.values():
            h.update(data)
        self.size += len(data)
        return data

    def read(self, n: int = -1, /) -> bytes:
        return self._take(self.stream.read(n))

    def readline(self, n: int = -1, /) -> bytes:
        """For readers that parse lines (warcio reads plain WARCs this way); the wrapped stream must have it."""
        readline = getattr(self.stream, "readline", None)
        if readline is None:
            raise TypeError(f"{type(self.stream).__name__} has no readline(); read() it in chunks instead")
        return self._take(readline(n))

    def readable(self) -> bool:
        return True

    def drain(self, sink: Writable | None = None) -> Self:
        """Read to the end in CHUNK pieces (writing each to sink, if given); returns self for its digests."""
        while chunk := self.read(CHUNK):
            if sink is not None:
                sink.write(chunk)
        return self

    def hexdigest(self, name: str) -> str:
        return self.hashes[name].hexdigest()

    def hexdigests(self) -> dict[str, str]:
        return {name: h.hexdigest() for name, h in self.hashes.items()}

    def close(self) -> None:
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
