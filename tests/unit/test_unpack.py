"""Hostile packages: each must be refused by name, with every problem listed and nothing written."""

from __future__ import annotations

import gzip
import hashlib
import io
import stat
import struct
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest

from strongroom.domain import unpack
from strongroom.domain.archive import IngestLimits
from strongroom.domain.hashing import CHUNK
from strongroom.domain.problems import Rejected
from strongroom.domain.unpack import extract, inspect

LIMITS = IngestLimits(
    max_package_bytes=1 << 30, max_files=1000, max_expansion_ratio=200, max_path_bytes=200, au_lock_seconds=900
)
BAG = {
    "bag/bagit.txt": b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
    "bag/data/article.xml": b"<article/>\n",
}


def make_zip(path: Path, members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicates we add on purpose
        for name, data in members.items() if isinstance(members, dict) else members:
            zf.writestr(name, data)
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], gz: bool = False) -> Path:
    with tarfile.open(path, "w:gz" if gz else "w") as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
    return path


def rules(problems) -> set[str]:
    return {p.rule for p in problems}


def refused(archive: Path, dest: Path, limits: IngestLimits = LIMITS) -> set[str]:
    """Extract must refuse, say why, and leave dest as it found it (absent)."""
    with pytest.raises(Rejected) as caught:
        extract(archive, dest, limits)
    assert not dest.exists() or not any(dest.iterdir()), "a refused package wrote something"
    for p in caught.value.problems:
        assert p.path and p.rule and p.message and p.fix
    return rules(caught.value.problems)


# ---------------------------------------------------------------- good packages


def test_zip_with_one_top_folder_extracts_to_that_folder(tmp_path):
    archive = make_zip(tmp_path / "p.zip", BAG)
    assert inspect(archive, LIMITS) == []
    got = extract(archive, tmp_path / "out", LIMITS)
    assert got.root == (tmp_path / "out" / "bag").resolve()
    assert (got.root / "data" / "article.xml").read_bytes() == b"<article/>\n"
    assert (got.file_count, got.total_bytes) == (2, sum(len(v) for v in BAG.values()))


def test_tar_gz_with_bagit_txt_at_top_extracts_to_dest(tmp_path):
    members = [(k.removeprefix("bag/"), v) for k, v in BAG.items()]
    archive = make_tar(tmp_path / "p.tar.gz", members, gz=True)
    got = extract(archive, tmp_path / "out", LIMITS)
    assert got.root == (tmp_path / "out").resolve()
    assert (got.root / "bagit.txt").is_file() and got.file_count == 2


def test_plain_tar_with_leading_dot_slash_is_fine(tmp_path):
    archive = make_tar(tmp_path / "p.tar", [("./" + k, v) for k, v in BAG.items()])
    got = extract(archive, tmp_path / "out", LIMITS)
    assert got.root.name == "bag"


def test_large_stored_member_is_copied_exactly(tmp_path):
    """A member bigger than any buffer arrives whole (streamed in chunks; memory is the benchmarks' job)."""
    size = 64 * CHUNK + 123
    archive = tmp_path / "big.zip"
    digest = hashlib.sha256()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("bag/bagit.txt", BAG["bag/bagit.txt"])
        with zf.open("bag/data/big.bin", "w", force_zip64=True) as out:
            block = bytes(range(256)) * 4096
            left = size
            while left:
                piece = block[: min(left, len(block))]
                out.write(piece)
                digest.update(piece)
                left -= len(piece)
    got = extract(archive, tmp_path / "out", LIMITS)
    written = got.root / "data" / "big.bin"
    assert written.stat().st_size == size
    h = hashlib.sha256()
    with open(written, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    assert h.hexdigest() == digest.hexdigest()


# ---------------------------------------------------------------- names


def test_traversal_is_refused_and_nothing_escapes(tmp_path):
    archive = make_zip(tmp_path / "p.zip", {**BAG, "bag/../../evil.txt": b"x"})
    assert "path-traversal" in rules(inspect(archive, LIMITS))
    assert "path-traversal" in refused(archive, tmp_path / "work" / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "work" / "evil.txt").exists()


@pytest.mark.parametrize(
    "name, rule",
    [
        ("/etc/evil.txt", "absolute-path"),
        ("C:\\evil.txt", "absolute-path"),
        ("\\\\server\\share\\evil.txt", "absolute-path"),
        ("bag\\..\\..\\evil.txt", "backslash-in-path"),
    ],
)
def test_absolute_and_backslash_names_are_refused(tmp_path, name, rule):
    archive = make_zip(tmp_path / "p.zip", {**BAG, name: b"x"})
    assert rule in refused(archive, tmp_path / "out")


def test_backslash_traversal_is_also_called_traversal(tmp_path):
    archive = make_zip(tmp_path / "p.zip", {**BAG, "bag\\..\\..\\evil.txt": b"x"})
    assert {"backslash-in-path", "path-traversal"} <= rules(inspect(archive, LIMITS))


def test_name_longer_than_the_limit_is_refused(tmp_path):
    archive = make_zip(tmp_path / "p.zip", {**BAG, "bag/data/" + "a" * 300: b"x"})
    assert "path-too-long" in refused(archive, tmp_path / "out")


def test_duplicate_names_are_refused(tmp_path):
    archive = make_zip(tmp_path / "p.zip", [*BAG.items(), ("bag/data/article.xml", b"other")])
    assert "duplicate-name" in refused(archive, tmp_path / "out")


def test_names_differing_only_in_case_are_refused(tmp_path):
    archive = make_zip(tmp_path / "p.zip", {**BAG, "bag/data/Article.XML": b"x"})
    problems = inspect(archive, LIMITS)
    assert "case-collision" in rules(problems)
    assert any(p.path == "bag/data/Article.XML" for p in problems)


def test_names_equal_after_nfc_are_refused(tmp_path):
    nfd, nfc = "bag/data/Nu\u0301n\u0303ez.xml", "bag/data/N\u00fa\u00f1ez.xml"
    archive = make_zip(tmp_path / "p.zip", {**BAG, nfd: b"a", nfc: b"b"})
    assert "normalization-collision" in refused(archive, tmp_path / "out")


# C0 controls, DEL, C1 controls (U+0085 ends a line for splitlines), line separators, and the bidi
# embeddings, overrides, isolates and marks: each makes a listing or a report show another name.
CONTROLS = ["\x00", "\t", "\n", "\x1b", "\x7f", "\x80", "\x85", "\x9b", "\x9f", "\u2028"]
CONTROLS += ["\u202a", "\u202e", "\u2066", "\u2069", "\u200f"]


# A tar header ends a name at its first NUL, so there a NUL is never part of one.
CASES = [(c, kind) for c in CONTROLS for kind in ("zip", "tar") if (c, kind) != ("\x00", "tar")]


def zip_with_nul(path: Path, members: dict[str, bytes]) -> Path:
    """zipfile cuts names at a NUL when it writes them: write U+0001 and make it a NUL in the bytes."""
    make_zip(path, {k.replace("\x00", "\x01"): v for k, v in members.items()})
    path.write_bytes(path.read_bytes().replace(b"evil\x01", b"evil\x00"))
    return path


@pytest.mark.parametrize(("char", "kind"), CASES, ids=[f"U+{ord(c):04X}-{k}" for c, k in CASES])
def test_a_control_character_in_a_name_is_refused_and_the_report_names_the_file_escaped(tmp_path, char, kind):
    """The attack: a C1 control in a file name (U+0085) gave a rejection report that named files the
    bag does not hold; a bidi override makes a report show another name."""
    name = f"bag/data/evil{char}fdp.xml"
    members = {**BAG, name: b"<article/>\n"}
    if kind == "tar":
        archive = make_tar(tmp_path / "p.tar", list(members.items()))
    else:
        archive = (zip_with_nul if char == "\x00" else make_zip)(tmp_path / "p.zip", members)
    with pytest.raises(Rejected) as caught:
        extract(archive, tmp_path / "out", LIMITS)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    found = [p for p in caught.value.problems if p.rule == "control-character"]
    shown = "bag/data/evil" + repr(char)[1:-1] + "fdp.xml"  # repr-style: \x85, \u202e
    assert [p.path for p in found] == [shown]
    assert f"U+{ord(char):04X}" in found[0].message and "no control characters in names" in found[0].message
    assert "rename" in found[0].fix
    for p in caught.value.problems:  # nothing in the report can rewrite it, and it names only real members
        text = str(p)
        assert char not in text, text
        assert p.path == "package" or p.path in {shown, *BAG}, p.path


@pytest.mark.parametrize("name", ["bag/data/café.xml", "bag/data/日本語 (1).pdf", "bag/data/a\u200db.xml"])
def test_printable_non_ascii_names_are_kept_as_they_are(tmp_path, name):
    archive = make_zip(tmp_path / "p.zip", {**BAG, name: b"x"})
    assert inspect(archive, LIMITS) == []
    assert (extract(archive, tmp_path / "out", LIMITS).root / name.removeprefix("bag/")).read_bytes() == b"x"


def test_a_file_and_a_folder_of_the_same_name_are_refused(tmp_path):
    archive = make_zip(tmp_path / "p.zip", {**BAG, "bag/data": b"x"})
    assert "file-dir-conflict" in rules(inspect(archive, LIMITS))


# ---------------------------------------------------------------- member types


def tar_info(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.mark.parametrize(
    "member, rule",
    [
        (tar_info("bag/data/passwd", tarfile.SYMTYPE, "/etc/passwd"), "symlink"),
        (tar_info("bag/data/copy.xml", tarfile.LNKTYPE, "bag/data/article.xml"), "hard-link"),
        (tar_info("bag/data/tty", tarfile.CHRTYPE), "special-file"),
        (tar_info("bag/data/disk", tarfile.BLKTYPE), "special-file"),
        (tar_info("bag/data/pipe", tarfile.FIFOTYPE), "special-file"),
    ],
)
def test_tar_links_and_devices_are_refused(tmp_path, member, rule):
    archive = make_tar(tmp_path / "p.tar", [*BAG.items(), member])
    assert rule in refused(archive, tmp_path / "out")


def test_zip_symlink_is_refused(tmp_path):
    archive = tmp_path / "p.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in BAG.items():
            zf.writestr(name, data)
        link = zipfile.ZipInfo("bag/data/passwd")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    assert "symlink" in refused(archive, tmp_path / "out")


def patch_zip(path: Path, name: str, *, flags: int | None = None, size: int | None = None) -> None:
    """Rewrite one member's general-purpose flags or declared size in both its headers."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    for signature, flag_at, size_at, name_at in ((b"PK\x03\x04", 6, 22, 30), (b"PK\x01\x02", 8, 24, 46)):
        at = data.find(signature)
        while at >= 0:
            name_len = struct.unpack_from("<H", data, at + name_at - (4 if signature == b"PK\x03\x04" else 18))[0]
            if data[at + name_at : at + name_at + name_len] == encoded:
                if flags is not None:
                    struct.pack_into("<H", data, at + flag_at, flags)
                if size is not None:
                    struct.pack_into("<I", data, at + size_at, size)
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


def test_encrypted_zip_member_is_refused(tmp_path):
    archive = make_zip(tmp_path / "p.zip", BAG)
    patch_zip(archive, "bag/data/article.xml", flags=0x1)
    assert "encrypted-member" in refused(archive, tmp_path / "out")


# ---------------------------------------------------------------- sizes and counts


def zeros_zip(path: Path, size: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bag/bagit.txt", BAG["bag/bagit.txt"])
        with zf.open("bag/data/zeros.bin", "w") as out:
            block = bytes(1 << 20)
            for _ in range(size // len(block)):
                out.write(block)
    return path


def test_zip_bomb_is_refused_from_its_listing(tmp_path):
    archive = zeros_zip(tmp_path / "bomb.zip", 32 << 20)  # ~32 kB expanding 1000 times
    problems = inspect(archive, LIMITS)
    assert "zip-bomb" in rules(problems)
    assert "zip-bomb" in refused(archive, tmp_path / "out")


def test_tar_gz_bomb_is_refused_from_its_headers(tmp_path):
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("bag/data/zeros.bin")
        info.size = 32 << 20

        class Zeros(io.RawIOBase):
            def readable(self):
                return True

            def readinto(self, b):
                b[:] = bytes(len(b))
                return len(b)

        tf.addfile(info, io.BufferedReader(Zeros()))
    assert "zip-bomb" in refused(archive, tmp_path / "out")


def test_expanded_size_over_the_limit_is_refused(tmp_path):
    archive = make_zip(tmp_path / "p.zip", {**BAG, "bag/data/big.bin": b"x" * 5000}, method=zipfile.ZIP_STORED)
    small = IngestLimits(1000, 1000, 200, 200, 900)
    assert "expanded-too-large" in refused(archive, tmp_path / "out", small)


def test_declared_size_that_lies_is_caught_while_writing(tmp_path):
    """The headers say 10 bytes; the data inflates to 100 kB. Extraction must stop, not trust the header."""
    archive = make_zip(tmp_path / "p.zip", {**BAG, "bag/data/liar.bin": b"A" * 100_000})
    patch_zip(archive, "bag/data/liar.bin", size=10)
    assert inspect(archive, LIMITS) == []  # the listing looks harmless
    assert refused(archive, tmp_path / "out") & {"corrupt-member", "size-mismatch"}


@pytest.mark.parametrize(
    "limits, rule",
    [
        (IngestLimits(4 << 20, 1000, 10**9, 200, 900), "expanded-too-large"),
        (IngestLimits(1 << 40, 1000, 200, 200, 900), "zip-bomb"),
    ],
)
def test_real_bytes_are_counted_even_when_the_listing_was_passed(tmp_path, monkeypatch, limits, rule):
    """If a listing ever slips through (declared sizes can lie), the byte count while writing still stops it."""
    archive = zeros_zip(tmp_path / "bomb.zip", 32 << 20)
    monkeypatch.setattr(unpack._Listing, "finish", lambda self: self.problems)  # blind the listing check
    assert inspect(archive, limits) == []
    assert refused(archive, tmp_path / "out", limits) == {rule}


def test_too_many_files_in_a_zip_is_refused_before_loading_the_directory(tmp_path):
    archive = make_zip(tmp_path / "p.zip", {**BAG, **{f"bag/data/{i}.txt": b"x" for i in range(5)}})
    few = IngestLimits(1 << 30, 3, 200, 200, 900)
    assert "too-many-files" in refused(archive, tmp_path / "out", few)


def test_too_many_files_in_a_tar_is_refused(tmp_path):
    archive = make_tar(tmp_path / "p.tar", [*BAG.items(), *((f"bag/data/{i}.txt", b"x") for i in range(5))])
    few = IngestLimits(1 << 30, 3, 200, 200, 900)
    assert "too-many-files" in refused(archive, tmp_path / "out", few)


# ---------------------------------------------------------------- type and shape


def test_junk_is_not_an_archive(tmp_path):
    junk = tmp_path / "p.zip"
    junk.write_bytes(b"this is not a zip file at all" * 40)
    problems = inspect(junk, LIMITS)
    assert rules(problems) == {"unknown-archive-type"}
    assert "not an archive" in problems[0].message
    assert "unknown-archive-type" in refused(junk, tmp_path / "out")


@pytest.mark.parametrize(
    "content, said",
    [
        (b"", "empty"),
        (b"BZh91AY&SY" + bytes(600), "bzip2"),
        (gzip.compress(b"hello" * 200, mtime=0), "gzip file without a tar"),
    ],
    ids=["empty", "bzip2", "gzip-not-tar"],
)
def test_other_types_are_named(tmp_path, content, said):
    path = tmp_path / "p.tar.gz"
    path.write_bytes(content)
    problems = inspect(path, LIMITS)
    assert rules(problems) == {"unknown-archive-type"} and said in problems[0].message


def test_type_comes_from_content_and_a_wrong_extension_is_a_warning(tmp_path):
    archive = make_tar(tmp_path / "p.zip", list(BAG.items()))  # a tar named .zip
    problems = inspect(archive, LIMITS)
    assert [(p.rule, p.severity) for p in problems] == [("archive-type-mismatch", "warning")]
    got = extract(archive, tmp_path / "out", LIMITS)
    assert got.root.name == "bag" and [p.rule for p in got.warnings] == ["archive-type-mismatch"]


def test_original_name_is_used_for_the_extension_check(tmp_path):
    archive = make_zip(tmp_path / "scratch-1234", BAG)
    assert inspect(archive, LIMITS) == []
    assert rules(inspect(archive, LIMITS, name="deposit.tar.gz")) == {"archive-type-mismatch"}


@pytest.mark.parametrize(
    "members",
    [
        {"bag/data/article.xml": b"x"},  # no bagit.txt
        {"a/bagit.txt": b"x", "b/bagit.txt": b"y"},  # two top-level folders
        {"bag/inner/bagit.txt": b"x"},  # too deep
    ],
)
def test_no_bag_root_says_how_to_package(tmp_path, members):
    archive = make_zip(tmp_path / "p.zip", members)
    problems = inspect(archive, LIMITS)
    assert rules(problems) == {"bag-root"}
    assert "zip -r" in problems[0].fix


def test_truncated_archive_is_corrupt(tmp_path):
    archive = make_zip(tmp_path / "p.zip", BAG)
    archive.write_bytes(archive.read_bytes()[:-30])
    assert "corrupt-archive" in refused(archive, tmp_path / "out")


def test_every_problem_is_listed_not_just_the_first(tmp_path):
    archive = make_zip(
        tmp_path / "p.zip",
        [
            *BAG.items(),
            ("bag/../evil", b"x"),
            ("/abs", b"x"),
            ("bag/data/article.xml", b"dup"),
            ("bag/data/ARTICLE.xml", b"case"),
            ("bag/data/" + "n" * 300, b"long"),
        ],
    )
    assert {"path-traversal", "absolute-path", "duplicate-name", "case-collision", "path-too-long"} <= refused(
        archive, tmp_path / "out"
    )


def test_extract_needs_an_empty_destination(tmp_path):
    archive = make_zip(tmp_path / "p.zip", BAG)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "left-over").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        extract(archive, tmp_path / "out", LIMITS)
