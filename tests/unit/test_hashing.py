"""The one streaming hasher: digests and size of what passes through, in bounded reads."""

from __future__ import annotations

import hashlib
import io

import pytest

from strongroom.domain.hashing import CHUNK, HashingReader

BODY = bytes(range(256)) * 9000 + b"tail"  # a few CHUNKs and a ragged end


class Recording(io.BytesIO):
    """A stream that remembers the size of every read asked of it."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.asked: list[int] = []

    def read(self, n: int | None = -1, /) -> bytes:
        self.asked.append(-1 if n is None else n)
        return super().read(n)


def test_digests_and_size_are_those_of_the_whole_stream():
    reader = HashingReader(io.BytesIO(BODY), ("sha256", "sha512", "md5")).drain()
    assert reader.size == len(BODY)
    assert reader.hexdigests() == {
        "sha256": hashlib.sha256(BODY).hexdigest(),
        "sha512": hashlib.sha512(BODY).hexdigest(),
        "md5": hashlib.md5(BODY).hexdigest(),
    }


def test_drain_never_reads_the_whole_stream_at_once():
    stream = Recording(BODY * 3)
    HashingReader(stream, ("sha256",)).drain()
    assert stream.asked and all(0 < n <= CHUNK for n in stream.asked)
    assert len(stream.asked) > 3  # several pieces, not one read of everything


def test_what_the_caller_reads_is_what_is_hashed_and_passed_on():
    reader = HashingReader(io.BytesIO(BODY), ("sha256",))
    got = reader.read(10) + reader.read(1000)
    got += reader.drain().read()  # nothing left after a drain
    assert got == BODY[:1010]
    assert reader.size == len(BODY)
    assert reader.hexdigest("sha256") == hashlib.sha256(BODY).hexdigest()


def test_drain_copies_into_a_sink():
    sink = io.BytesIO()
    reader = HashingReader(io.BytesIO(BODY), ("sha256",)).drain(sink)
    assert sink.getvalue() == BODY
    assert reader.hexdigest("sha256") == hashlib.sha256(BODY).hexdigest()


def test_readline_is_hashed_too():
    text = b"WARC/1.1\r\nWARC-Type: warcinfo\r\n\r\nbody"
    reader = HashingReader(io.BytesIO(text), ("sha256",))
    assert reader.readline() == b"WARC/1.1\r\n"
    reader.drain()
    assert reader.size == len(text) and reader.hexdigest("sha256") == hashlib.sha256(text).hexdigest()


def test_a_seed_is_hashed_before_the_stream_only_by_the_hash_it_names():
    nonce = b"n" * 32
    reader = HashingReader(io.BytesIO(BODY), ("sha256", "sha512"), seed={"sha256": nonce}).drain()
    assert reader.hexdigest("sha256") == hashlib.sha256(nonce + BODY).hexdigest()
    assert reader.hexdigest("sha512") == hashlib.sha512(BODY).hexdigest()
    assert reader.size == len(BODY)  # the seed is not stream bytes


def test_closing_closes_the_wrapped_stream():
    stream = io.BytesIO(BODY)
    with HashingReader(stream, ("sha256",)):
        pass
    assert stream.closed


@pytest.mark.parametrize(
    "names, seed, words",
    [
        ((), None, "at least one hash"),
        (("sha256",), {"sha512": b"x"}, "'sha512'"),
    ],
)
def test_bad_arguments_say_what_to_give(names, seed, words):
    with pytest.raises(ValueError, match=words):
        HashingReader(io.BytesIO(b""), names, seed=seed)


def test_an_unknown_hash_name_is_refused():
    with pytest.raises(ValueError, match="'sha9' is not a hash"):
        HashingReader(io.BytesIO(b""), ("sha9",))
