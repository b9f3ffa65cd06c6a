"""Where things live in a node's bucket: the OCFL 1.1 storage root and extension 0003.

The bucket root is the storage root, so a future reader needs only the OCFL spec and
the extension's text (named in ocfl_layout.json) to find every object. Extension 0003
was chosen because its object directories keep the readable AU id while the hash
tuples spread millions of AUs evenly.
"""

from __future__ import annotations

import hashlib
import json

ROOT_DECLARATION = "0=ocfl_1.1"
ROOT_DECLARATION_BODY = b"ocfl_1.1\n"
OBJECT_DECLARATION = "0=ocfl_object_1.1"
OBJECT_DECLARATION_BODY = b"ocfl_object_1.1\n"
LAYOUT_FILE = "ocfl_layout.json"
LOGS = "logs"  # each object's logs/ directory (OCFL 1.1 section 3.1)
LAYOUT_EXTENSION = "0003-hash-and-id-n-tuple-storage-layout"
LAYOUT_CONFIG_KEY = f"extensions/{LAYOUT_EXTENSION}/config.json"
README_KEY = "strongroom-storage-root.md"

DIGEST_ALGORITHM = "sha256"
TUPLE_SIZE = 3
NUMBER_OF_TUPLES = 3
MAX_ENCAPSULATION = 100  # extension 0003: longer encoded ids are truncated and suffixed with the digest

# Extension 0003 keeps these characters; every other character is percent-encoded byte by byte.
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_ID_DIGESTS = {"md5", "sha1", "sha256", "sha512", "blake2b-512"}


def _hex_digest(algorithm: str, data: bytes) -> str:
    if algorithm not in _ID_DIGESTS:
        raise ValueError(
            f"digest algorithm {algorithm!r} is not one OCFL allows in a fixity block; use one of {sorted(_ID_DIGESTS)}"
        )
    name = "blake2b" if algorithm == "blake2b-512" else algorithm
    return hashlib.new(name, data).hexdigest()


def encapsulation_directory(object_id: str, digest: str) -> str:
    """The object's own directory name: the id, percent-encoded (lower-case hex), truncated past 100 chars."""
    encoded = "".join(ch if ch in _SAFE else "".join(f"%{b:02x}" for b in ch.encode("utf-8")) for ch in object_id)
    if len(encoded) > MAX_ENCAPSULATION:
        return f"{encoded[:MAX_ENCAPSULATION]}-{digest}"
    return encoded


def storage_path(
    object_id: str,
    digest_algorithm: str = DIGEST_ALGORITHM,
    tuple_size: int = TUPLE_SIZE,
    number_of_tuples: int = NUMBER_OF_TUPLES,
) -> str:
    """Extension 0003 with any parameters (the defaults are ours); exposed so tests can run the spec's examples."""
    if not object_id:
        raise ValueError("an OCFL object id must not be empty")
    if not (0 <= tuple_size <= 32 and 0 <= number_of_tuples <= 32) or (tuple_size == 0) != (number_of_tuples == 0):
        raise ValueError("tupleSize and numberOfTuples must be 0..32, and both 0 or both non-zero")
    digest = _hex_digest(digest_algorithm, object_id.encode("utf-8")).lower()
    if tuple_size * number_of_tuples > len(digest):
        raise ValueError(f"tupleSize x numberOfTuples exceeds the {len(digest)} hex digits of {digest_algorithm}")
    tuples = [digest[i * tuple_size : (i + 1) * tuple_size] for i in range(number_of_tuples)]
    return "/".join([*tuples, encapsulation_directory(object_id, digest)])


def object_root(object_id: str) -> str:
    """The key prefix (no trailing '/') of an OCFL object in a node bucket."""
    return storage_path(object_id)


def object_key(object_id: str, path: str) -> str:
    """The bucket key of a path inside an object (a content path, 'inventory.json', 'logs/x', ...)."""
    return f"{object_root(object_id)}/{path}"


def _json(value: dict) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


LAYOUT_CONFIG = {
    "extensionName": LAYOUT_EXTENSION,
    "digestAlgorithm": DIGEST_ALGORITHM,
    "tupleSize": TUPLE_SIZE,
    "numberOfTuples": NUMBER_OF_TUPLES,
}

LAYOUT_DESCRIPTION = (
    "OCFL extension 0003 (hashed truncated n-tuple trees with object id encapsulating directory): "
    "the sha256 of the object id, in lower-case hex, gives three directories of three characters; "
    "under them, the object id percent-encoded is the object root. Each object is one archival unit "
    "(AU) of strongroom, a dark archive for scholarly content; its id is publisher/title/au. "
    "See strongroom-storage-root.md in this directory."
)

README = f"""\
# This is an OCFL 1.1 storage root

This bucket (or directory) is one copy of the strongroom archive, a dark archive for
scholarly content. It is laid out according to the Oxford Common File Layout (OCFL)
version 1.1, https://ocfl.io/1.1/spec/ , so that it can be read with any OCFL tool,
or by hand, without strongroom's own software.

## Where the objects are

Each OCFL object is one archival unit (AU): one volume or year of one journal or book
series from one publisher. Its OCFL id is `publisher/title/au`, for example
`example-press/journal-of-examples/2024`.

Objects are placed by the community extension
`{LAYOUT_EXTENSION}` (https://ocfl.github.io/extensions/ , copy of its
parameters in `{LAYOUT_CONFIG_KEY}`):

1. take the SHA-256 of the object id (UTF-8), written in lower-case hexadecimal;
2. its first three groups of three characters are three nested directories;
3. below them, the directory of the object is the id itself, with every character
   other than A-Z, a-z, 0-9, '-' and '_' written as '%' and two lower-case hex digits
   per UTF-8 byte (so '/' becomes '%2f' and '.' becomes '%2e'); an encoded id longer
   than 100 characters is cut at 100 and followed by '-' and the full SHA-256.

## Inside an object

- `0=ocfl_object_1.1` declares the object.
- `inventory.json` lists every version (v1, v2, ...): when it was deposited, by whom,
  and which files it holds, each by its SHA-512 digest. `inventory.json.sha512` holds
  the SHA-512 of the inventory itself. The `fixity` block repeats each file's SHA-256.
- `v1/content/...`, `v2/content/...` hold the files. A file is stored once, in the
  first version that contained it; later versions refer back to it by digest.
- `logs/` holds preservation events (PREMIS, JSON lines): ingest, fixity checks,
  replication, repair, release. They are not part of any version.

A new deposit for an AU becomes a new version; nothing already stored is changed.
The root `inventory.json` is written last, so an interrupted deposit never hides the
previous version.
"""


def storage_root_files() -> list[tuple[str, bytes]]:
    """The storage root's own files, declaration last so a half-made root is not declared."""
    return [
        (LAYOUT_CONFIG_KEY, _json(LAYOUT_CONFIG)),
        (LAYOUT_FILE, _json({"extension": LAYOUT_EXTENSION, "description": LAYOUT_DESCRIPTION})),
        (README_KEY, README.encode("utf-8")),
        (ROOT_DECLARATION, ROOT_DECLARATION_BODY),
    ]


def storage_root_keys() -> list[str]:
    """The storage root's own keys, in the order to copy them (declaration last)."""
    return [key for key, _ in storage_root_files()]
