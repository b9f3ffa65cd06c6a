"""In-memory stand-ins for the domain's ports, for unit tests."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from strongroom.domain.ports import NotFound, StoredObject, Unavailable


class MemoryBlobStore:
    """A versioned bucket in a dict: enough S3 semantics for the domain's logic."""

    def __init__(self, name: str = "memory"):
        self.name = name
        self.objects: dict[str, bytes] = {}
        self.history: dict[str, list[bytes | None]] = {}  # noncurrent versions, oldest first (None: deleted by id)
        self.headers: dict[str, dict[str, str]] = {}  # key -> the Content-Type/-Disposition it was stored with
        self.offline = False
        self.requests = 0

    def _check(self) -> None:
        self.requests += 1
        if self.offline:
            raise Unavailable(f"{self.name} is offline")

    def _info(self, key: str) -> StoredObject:
        data = self.objects[key]
        return StoredObject(
            key=key,
            size=len(data),
            etag=hashlib.md5(data).hexdigest(),
            sha256=hashlib.sha256(data).hexdigest(),
            version_id=str(len(self.history.get(key, []))),
        )

    def put(self, key, body, *, sha256=None, content_type=None, content_disposition=None) -> StoredObject:
        self._check()
        data = body if isinstance(body, bytes) else body.read()
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError(f"{self.name}/{key}: checksum mismatch on write")
        if key in self.objects:
            self.history.setdefault(key, []).append(self.objects[key])
        self.objects[key] = data
        self.headers[key] = {
            k: v for k, v in (("Content-Type", content_type), ("Content-Disposition", content_disposition)) if v
        }
        return self._info(key)

    def open(self, key, *, version_id=None) -> BinaryIO:
        self._check()
        old = self.history.get(key, [])
        if version_id is not None and int(version_id) < len(old):  # a noncurrent version, deleted key or not
            if old[int(version_id)] is None:
                raise NotFound(f"{self.name}/{key} version {version_id}")
            return io.BytesIO(old[int(version_id)])
        if key not in self.objects:
            raise NotFound(f"{self.name}/{key}")
        return io.BytesIO(self.objects[key])

    def head(self, key) -> StoredObject | None:
        self._check()
        return self._info(key) if key in self.objects else None

    def list(self, prefix="", *, versions=False) -> Iterator[StoredObject]:
        self._check()
        for key in sorted(self.objects):
            if key.startswith(prefix):  # like ListObjectsV2: no checksum, no version id (head() has them)
                data = self.objects[key]
                yield StoredObject(
                    key=key,
                    size=len(data),
                    etag=hashlib.md5(data).hexdigest(),
                    version_id=self._info(key).version_id if versions else None,
                )

    def copy_from(self, source, key, *, dest_key=None, known=None) -> StoredObject:
        self._check()
        with source.open(key) as f:
            return self.put(dest_key or key, f.read())

    def delete(self, key, *, version_id=None) -> None:
        self._check()
        if key in self.objects and version_id in (None, self._info(key).version_id):
            self.history.setdefault(key, []).append(self.objects.pop(key))
        if version_id is not None and int(version_id) < len(self.history.get(key, [])):
            self.history[key][int(version_id)] = None  # gone for good; the other ids stay as they were

    def list_versions(self, key) -> list[StoredObject]:
        self._check()
        old = self.history.get(key, [])
        # like ListObjectVersions: size, ETag and version id; no checksum (head() has it)
        out = [
            StoredObject(key=key, size=len(d), etag=hashlib.md5(d).hexdigest(), version_id=str(i))
            for i, d in enumerate(old)
            if d is not None  # a version deleted by its id
        ]
        if key in self.objects:
            current = self._info(key)
            out.append(StoredObject(key=key, size=current.size, etag=current.etag, version_id=current.version_id))
        return out

    def export(self, directory: Path, prefix: str = "") -> Path:
        """Write the current objects under prefix to a directory (for validators that want files)."""
        for key, data in self.objects.items():
            if key.startswith(prefix):
                path = directory / key[len(prefix) :]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        return directory


class MemoryCatalog:
    """The catalog in dicts."""

    def __init__(self):
        self.aus: dict = {}
        self.event_log: dict[str, dict] = {}
        self.locks: dict[str, tuple[str, float]] = {}
        self.releases: dict[str, dict] = {}
        self.summaries: dict[str | None, dict[str, int]] = {}  # None: the archive; else a publisher
        self.title_aus_count: dict[str, int] = {}  # publisher/title -> its AU count

    def put_au(self, record):
        """Like DynamoCatalog.put_au: the summaries move by the difference the new record makes."""
        import copy

        from strongroom.domain.catalog import summary_delta, title_of

        old = self.aus.get(record.au)
        title = title_of(record.au)
        delta = summary_delta(old, record, new_title=old is None and title not in self.title_aus_count)
        if old is None:
            self.title_aus_count[title] = self.title_aus_count.get(title, 0) + 1
        for key in (None, record.publisher):
            totals = self.summaries.setdefault(key, {})
            for name, value in delta.items():
                totals[name] = totals.get(name, 0) + value
        self.aus[record.au] = copy.deepcopy(record)

    def summary(self, publisher=None):
        from strongroom.domain.catalog import SUMMARY_FIELDS

        totals = self.summaries.get(publisher, {})
        return {name: totals.get(name, 0) for name in SUMMARY_FIELDS}

    def title_aus(self, title):
        return self.title_aus_count.get(title.strip("/"), 0)

    def aus_of_publisher(self, publisher, limit):
        keys = sorted((k for k in self.aus if k.split("/")[0] == publisher), key=lambda k: (k.split("/")[1], k))
        return [self.get_au(k) for k in keys[:limit]]

    def get_au(self, au):
        import copy

        return copy.deepcopy(self.aus.get(au))

    def list_aus(self):
        return [self.get_au(k) for k in sorted(self.aus)]

    def aus_of_title(self, title, limit=None):
        from strongroom.domain.catalog import title_of

        return [self.get_au(k) for k in sorted(self.aus) if title_of(k) == title.strip("/")][:limit]

    def poll_candidates(self, polled_before, limit):
        from strongroom.domain.catalog import NEVER_POLLED, poll_order_key, poll_time_key

        keyed = sorted((poll_order_key(r), k) for k, r in self.aus.items())
        upper = poll_time_key(polled_before) + "$"
        never = [k for key, k in reversed(keyed) if key.startswith(NEVER_POLLED)][:limit]
        polled = [k for key, k in keyed if not key.startswith(NEVER_POLLED) and key <= upper][:limit]
        return [self.get_au(k) for k in never + polled]

    def add_events(self, events):
        for e in events:
            self.event_log[e.identifier] = e

    def events(self, object_id):
        return sorted((e for e in self.event_log.values() if e.object == object_id), key=lambda e: (e.at, e.identifier))

    def try_lock(self, name, owner, now, seconds):
        holder = self.locks.get(name)
        if holder and holder[0] != owner and holder[1] > now:
            return False
        self.locks[name] = (owner, now + seconds)
        return True

    def unlock(self, name, owner):
        if self.locks.get(name, (None,))[0] == owner:
            del self.locks[name]

    def get_release(self, release_id):
        import copy

        return copy.deepcopy(self.releases.get(release_id))

    def list_releases(self):
        return sorted((self.get_release(k) for k in self.releases), key=lambda d: (d.get("proposed_at", ""), d["id"]))

    def put_release(self, doc, expected_revision):
        import copy

        from strongroom.domain.catalog import StaleWrite

        current = self.releases.get(doc["id"])
        if (current["revision"] if current else 0) != expected_revision:
            raise StaleWrite(f"release {doc['id']} changed since revision {expected_revision}")
        self.releases[doc["id"]] = copy.deepcopy(doc)

    def clear(self):  # like DynamoCatalog.clear: release decisions survive a rebuild
        self.aus.clear()
        self.summaries.clear()
        self.title_aus_count.clear()
        self.event_log.clear()
        self.locks.clear()
