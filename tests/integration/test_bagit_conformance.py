"""The Library of Congress BagIt conformance suite, through the real ingest path: zip -> extract -> validate.

valid/ bags are accepted, invalid/ and linux-only/ bags rejected, warning/ bags accepted
with their warning listed. Holey bags are zipped as a publisher would send them (without
the files fetch.txt names) and must be rejected with `incomplete-fetch`: the archive keeps
what it is given and does not fetch. windows-only/ is not part of this.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from strongroom.domain.archive import IngestLimits
from strongroom.domain.bag import validate_bag
from strongroom.domain.problems import Rejected, errors, warnings
from strongroom.domain.unpack import extract

SUITE = Path(__file__).resolve().parents[1] / "data" / "bagit-conformance-suite"  # vendored; see tests/data/README.md
LIMITS = IngestLimits(
    max_package_bytes=1 << 30, max_files=10_000, max_expansion_ratio=200, max_path_bytes=1024, au_lock_seconds=900
)

# What each non-valid bag must be refused (or warned) for: the rule names the reason.
EXPECTED_RULE = {
    "v0.97/invalid/baginfo-missing-encoding": "bagit-txt-missing-tag",
    "v0.97/invalid/bom-in-bagit.txt": "bagit-txt-bom",
    "v0.97/invalid/corrupt-data-file": "checksum-mismatch",
    "v0.97/invalid/corrupt-tag-file": "checksum-mismatch",
    "v0.97/invalid/extra-file-in-bag": "unlisted-file",
    "v0.97/invalid/invalid-version-number": "invalid-version",
    "v0.97/invalid/missing-baginfo": "missing-tag-file",
    "v0.97/invalid/missing-bagit.txt": "bag-root",  # refused by extract: no bagit.txt to find the bag by
    "v0.97/invalid/out-of-scope-file-paths-using-dot-notation": "path-out-of-scope",
    "v0.97/invalid/out-of-scope-file-paths-using-dot-notation-for-fetch": "path-out-of-scope",
    "v0.97/invalid/same-filename-listed-twice-with-different-hashes": "conflicting-manifest-entries",
    "v0.97/linux-only/out-of-scope-file-paths-using-absolute-path": "path-out-of-scope",
    "v0.97/linux-only/out-of-scope-file-paths-using-absolute-path-for-fetch": "path-out-of-scope",
    "v0.97/linux-only/out-of-scope-file-paths-using-shortcut": "path-out-of-scope",
    "v0.97/linux-only/out-of-scope-file-paths-using-shortcut-for-fetch": "path-out-of-scope",
    "v0.97/linux-only/out-of-scope-file-paths-using-shortcut-username": "path-out-of-scope",
    "v0.97/linux-only/out-of-scope-file-paths-using-shortcut-username-for-fetch": "path-out-of-scope",
    "v1.0/invalid/bagit-with-invalid-whitespace": "bagit-txt-whitespace",
    "v1.0/invalid/notAllManifestsListAllFiles": "unlisted-file",
    "v1.0/invalid/same-filename-listed-twice-with-different-hashes": "conflicting-manifest-entries",
    "v1.0/invalid/same-filename-listed-twice-with-the-same-hash": "duplicate-manifest-entry",
    "v0.97/warning/duplicate-file-with-different-case": "case-duplicate",
    "v0.97/warning/made-with-md5sum-tools": "md5sum-style-manifest",
    "v0.97/warning/relative-path": "relative-path",
    "v0.97/warning/same-filename-listed-twice-with-different-normalization": "normalization-duplicate",
    "v0.97/warning/same-filename-listed-twice-with-the-same-hash": "duplicate-manifest-entry",
    "v0.97/warning/special-system-files": "system-file",
}


def _bags() -> list:
    if not SUITE.is_dir():
        return [pytest.param(None, id="suite-missing")]
    found = []
    for bag in sorted(SUITE.glob("v*/*/*")):
        group = bag.parent.name
        if not bag.is_dir() or group not in ("valid", "invalid", "warning", "linux-only"):
            continue
        bag_id = bag.relative_to(SUITE).as_posix()
        found.append(pytest.param(bag, id=bag_id))
        if (bag / "fetch.txt").is_file() and group == "valid":
            found.append(pytest.param(bag, id=bag_id + "[complete]"))
    return found


def _fetched(bag: Path) -> set[str]:
    lines = (bag / "fetch.txt").read_text("utf-8").splitlines()
    return {line.split(None, 2)[2].strip() for line in lines if line.strip()}


def _zip(bag: Path, archive: Path, leave_out: set[str] = frozenset()) -> Path:
    """Zip the bag with its folder as the one top-level entry, bytes as they are (CRLF, UTF-16 …)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for dirpath, _dirs, files in os.walk(bag):
            for name in files:
                path = Path(dirpath, name)
                rel = path.relative_to(bag).as_posix()
                if rel not in leave_out:
                    zf.write(path, f"{bag.name}/{rel}")
    return archive


def _problems(archive: Path, out: Path):
    """Run ingest's first two steps; a refusal at unpack counts as a rejection."""
    try:
        root = extract(archive, out, LIMITS).root
    except Rejected as refused:
        return refused.problems
    return validate_bag(root).problems


def test_the_suite_is_there():
    assert SUITE.is_dir(), (
        f"the BagIt conformance suite is missing: expected it at {SUITE} (vendored in tests/data/). "
        "Clone https://github.com/LibraryOfCongress/bagit-conformance-suite there."
    )
    assert len(_bags()) >= 50


@pytest.mark.parametrize("bag", _bags())
def test_conformance(bag, tmp_path, request):
    if bag is None:
        pytest.fail(f"the BagIt conformance suite is missing at {SUITE}; clone it there (see test_the_suite_is_there)")
    bag_id = request.node.callspec.id
    group = bag.parent.name
    holey = (bag / "fetch.txt").is_file() and group == "valid" and not bag_id.endswith("[complete]")
    leave_out = _fetched(bag) if holey else set()
    problems = _problems(_zip(bag, tmp_path / "package.zip", leave_out), tmp_path / "out")
    shown = "\n".join(map(str, problems))

    if holey:
        missing = {p.path for p in errors(problems) if p.rule == "incomplete-fetch"}
        assert missing == leave_out, f"{bag_id}: every fetched file must be reported missing\n{shown}"
        assert all("include" in p.fix for p in problems if p.rule == "incomplete-fetch")
    elif group == "valid":
        assert not errors(problems), f"{bag_id} is valid but was rejected:\n{shown}"
        if bag_id.endswith("[complete]"):
            assert "fetch-ignored" in {p.rule for p in warnings(problems)}
    elif group == "warning":
        assert not errors(problems), f"{bag_id} should be accepted with a warning, but was rejected:\n{shown}"
        assert EXPECTED_RULE[bag_id] in {p.rule for p in warnings(problems)}, f"{bag_id}: warning missing\n{shown}"
    else:
        assert EXPECTED_RULE[bag_id] in {p.rule for p in errors(problems)}, f"{bag_id} should be rejected:\n{shown}"
