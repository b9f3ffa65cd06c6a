"""BagIt validation that lists everything, and the archive's profile (tags, AU agreement, ISSNs, digests)."""

from __future__ import annotations

import json
from pathlib import Path

import bagit
import pytest

from strongroom.domain import bag as bag_module
from strongroom.domain.au import AuId
from strongroom.domain.bag import (
    BagReport,
    PayloadFile,
    check_profile,
    issn_ok,
    profile,
    validate_bag,
)

AU = AuId("acme", "jphys", "2024")
GOOD_INFO = {
    "Source-Organization": "Acme Press",
    "Strongroom-Publisher": "acme",
    "Strongroom-Title": "jphys",
    "Strongroom-AU": "2024",
    "ISSN": "0317-8471",
    "eISSN": "2434-561X",
    "External-Identifier": "acme-deposit-17",
}


def make_bag(tmp_path: Path, info: dict | None = None, checksums=("sha512",)) -> Path:
    root = tmp_path / "bag"
    (root / "article1").mkdir(parents=True)
    (root / "article1" / "article.xml").write_bytes(b"<article/>\n")
    (root / "article1" / "article.pdf").write_bytes(b"%PDF-1.7\n")
    bagit.make_bag(str(root), bag_info=dict(GOOD_INFO if info is None else info), checksums=list(checksums))
    return root


def rules(problems, severity=None) -> set[str]:
    return {p.rule for p in problems if severity is None or p.severity == severity}


def report_with(info: dict[str, list[str]], algorithms=("sha512",), problems=()) -> BagReport:
    payload = [PayloadFile("data/a.xml", 10, {}), PayloadFile("data/b.pdf", 5, {})]
    return BagReport(list(problems), info, payload, "1.0", list(algorithms))


# ---------------------------------------------------------------- validate_bag


def test_a_bag_made_by_bagit_is_valid_and_described(tmp_path):
    report = validate_bag(make_bag(tmp_path))
    assert report.ok and report.problems == []
    assert report.version == "0.97" and report.algorithms == ["sha512"]
    assert [f.path for f in report.payload] == ["data/article1/article.pdf", "data/article1/article.xml"]
    assert report.payload[1].size == 11 and len(report.payload[1].digests["sha512"]) == 128
    assert report.info["Source-Organization"] == ["Acme Press"]
    assert check_profile(report, AU) == []


def test_every_problem_is_listed(tmp_path):
    root = make_bag(tmp_path)
    (root / "data" / "article1" / "article.xml").write_bytes(b"<changed/>\n")  # corrupt
    (root / "data" / "extra.txt").write_text("not listed")  # extra
    (root / "data" / "article1" / "article.pdf").unlink()  # missing
    report = validate_bag(root)
    assert not report.ok
    assert {"checksum-mismatch", "unlisted-file", "missing-file", "payload-oxum"} <= rules(report.problems, "error")
    named = {(p.rule, p.path) for p in report.problems}
    assert ("checksum-mismatch", "data/article1/article.xml") in named
    assert ("missing-file", "data/article1/article.pdf") in named
    assert all(p.fix for p in report.problems)


def test_a_file_missing_from_one_of_two_manifests_is_an_error(tmp_path):
    root = make_bag(tmp_path, checksums=("sha256", "sha512"))
    manifest = root / "manifest-sha256.txt"
    manifest.write_text("".join(line + "\n" for line in manifest.read_text().splitlines() if "article.pdf" not in line))
    report = validate_bag(root)
    assert ("not-in-every-manifest", "data/article1/article.pdf") in {(p.rule, p.path) for p in report.problems}


def test_files_fetch_txt_names_must_be_in_the_bag(tmp_path):
    root = make_bag(tmp_path)
    (root / "fetch.txt").write_text("https://example.org/a.pdf - data/article1/article.pdf\n")
    (root / "data" / "article1" / "article.pdf").unlink()
    report = validate_bag(root)
    problem = next(p for p in report.problems if p.rule == "incomplete-fetch")
    assert problem.path == "data/article1/article.pdf" and problem.severity == "error"
    assert "include" in problem.fix
    assert "missing-file" not in rules(report.problems)  # said once, as incomplete-fetch


def test_bagit_txt_must_be_exact(tmp_path):
    root = make_bag(tmp_path)
    (root / "bagit.txt").write_bytes(b"\xef\xbb\xbfBagIt-Version : 1.0\n")
    report = validate_bag(root)
    assert {"bagit-txt-bom", "bagit-txt-whitespace", "bagit-txt-missing-tag"} <= rules(report.problems, "error")


def test_a_symlink_in_the_bag_is_refused(tmp_path):
    root = make_bag(tmp_path)
    (root / "data" / "link").symlink_to("/etc/passwd")
    assert "symlink" in rules(validate_bag(root).problems, "error")


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\x9b", "\u202e", "\u2067", "\x1b", "\x7f"])
def test_a_control_character_in_a_name_is_refused_and_no_file_the_bag_lacks_is_named(tmp_path, char):
    """The attack: U+0085 (or U+2028) in a payload name, listed correctly in the manifest, made the
    report name 'data/article1/evil', a file the bag does not hold (bagit splits lines there);
    a bidi control makes a report show another name. The name is reported escaped, once."""
    root = tmp_path / "bag"
    (root / "article1").mkdir(parents=True)
    (root / "article1" / f"evil{char}fdp.xml").write_bytes(b"<article/>\n")
    bagit.make_bag(str(root), bag_info=dict(GOOD_INFO), checksums=["sha512"])
    report = validate_bag(root)
    shown = "data/article1/evil" + repr(char)[1:-1] + "fdp.xml"
    assert [(p.path, p.rule) for p in report.problems if p.severity == "error"] == [(shown, "control-character")]
    problem = report.problems[0]
    assert f"U+{ord(char):04X}" in problem.message and "no control characters in names" in problem.message
    assert all(char not in str(p) for p in report.problems)


# ---------------------------------------------------------------- the profile


def test_the_profile_is_a_bagit_profile_document():
    doc = json.loads((Path(bag_module.__file__).parent / "bagit_profile.json").read_text())
    assert doc["BagIt-Profile-Info"]["BagIt-Profile-Identifier"]
    assert doc["Bag-Info"]["Source-Organization"]["required"] is True
    for tag in (
        "Strongroom-Publisher",
        "Strongroom-Title",
        "Strongroom-AU",
        "Bagging-Date",
        "ISSN",
        "eISSN",
        "Payload-Oxum",
    ):
        assert doc["Bag-Info"][tag]["required"] is False, tag
    assert set(doc["Strongroom-Manifests-Required-Any"]) == {"sha256", "sha512"}


def test_check_profile_reads_its_rules_from_the_profile(monkeypatch):
    doc = json.loads(json.dumps(profile()))
    doc["Bag-Info"]["External-Identifier"]["required"] = True
    monkeypatch.setattr(bag_module, "profile", lambda: doc)
    info = {k: [v] for k, v in GOOD_INFO.items() if k != "External-Identifier"}
    assert [(p.rule, "External-Identifier" in p.message) for p in check_profile(report_with(info), AU)] == [
        ("missing-tag", True)
    ]


def test_source_organization_is_required():
    problems = check_profile(report_with({}), AU)
    assert [(p.rule, p.severity) for p in problems] == [("missing-tag", "error")]
    assert "Source-Organization" in problems[0].message


@pytest.mark.parametrize(
    "algorithms, ok", [(["md5"], False), (["md5", "sha1"], False), (["sha256"], True), (["md5", "sha512"], True)]
)
def test_a_strong_digest_is_required(algorithms, ok):
    problems = check_profile(report_with({"Source-Organization": ["Acme"]}, algorithms), AU)
    assert (problems == []) == ok
    if not ok:
        assert rules(problems) == {"weak-digest"} and "--sha512" in problems[0].fix


def test_md5_only_bag_is_refused_by_the_profile(tmp_path):
    report = validate_bag(make_bag(tmp_path, checksums=("md5",)))
    assert report.ok
    assert rules(check_profile(report, AU)) == {"weak-digest"}


def test_each_au_disagreement_is_reported():
    info = {
        "Source-Organization": ["Acme"],
        "Strongroom-Publisher": ["other"],
        "Strongroom-Title": ["jchem"],
        "Strongroom-AU": ["2024"],
        "External-Identifier": ["anything at all"],
    }
    problems = check_profile(report_with(info), AU)
    assert [p.rule for p in problems] == ["au-mismatch", "au-mismatch"]
    assert "'other'" in problems[0].message and "'acme'" in problems[0].message
    assert "'jchem'" in problems[1].message and "'jphys'" in problems[1].message


@pytest.mark.parametrize(
    "issn, ok",
    [
        ("0317-8471", True),
        ("03178471", True),
        ("2434-561X", True),
        ("2434-561x", True),
        ("0378-5955", True),
        ("0317-8472", False),
        ("2434-5610", False),
        ("1234-567", False),
        ("ISSN 0317-8471", False),
        ("", False),
    ],
)
def test_issn_check_digit(issn, ok):
    assert issn_ok(issn) is ok


def test_bad_issns_and_dates_are_each_reported():
    info = {
        "Source-Organization": ["Acme"],
        "ISSN": ["0317-8472"],
        "eISSN": ["2434-561X", "1111-1111"],
        "Bagging-Date": ["26/02/2016"],
    }
    problems = check_profile(report_with(info), AU)
    assert sorted((p.rule, p.message.split()[0]) for p in problems) == [
        ("bad-date", "Bagging-Date"),
        ("bad-issn", "ISSN"),
        ("bad-issn", "eISSN"),
    ]


@pytest.mark.parametrize("value", ["2024-03-01", "2024-03-01T12:30:00Z", "2024-03-01T12:30:00+02:00"])
def test_iso_dates_are_accepted(value):
    assert check_profile(report_with({"Source-Organization": ["Acme"], "Bagging-Date": [value]}), AU) == []


def test_payload_oxum_must_match_when_given():
    assert check_profile(report_with({"Source-Organization": ["A"], "Payload-Oxum": ["15.2"]}), AU) == []
    problems = check_profile(report_with({"Source-Organization": ["A"], "Payload-Oxum": ["16.2"]}), AU)
    assert rules(problems) == {"payload-oxum"}


def test_single_valued_tags_must_not_repeat():
    info = {"Source-Organization": ["A"], "Strongroom-AU": ["2024", "2024"]}
    assert rules(check_profile(report_with(info), AU)) == {"repeated-tag"}


def test_every_profile_problem_is_listed(tmp_path):
    info = {
        "Strongroom-Publisher": "nope",
        "Strongroom-Title": "nope",
        "Strongroom-AU": "nope",
        "ISSN": "1234-5678",
        "Bagging-Date": "yesterday",
    }
    report = validate_bag(make_bag(tmp_path, info=info, checksums=("md5",)))
    problems = check_profile(report, AU)
    assert sorted(p.rule for p in problems) == [
        "au-mismatch",
        "au-mismatch",
        "au-mismatch",
        "bad-date",
        "bad-issn",
        "missing-tag",
        "weak-digest",
    ]


def test_bagit_verdict_backs_up_our_own_checks(tmp_path, monkeypatch):
    """Were one of our checks lost, bagit's refusal would still be reported, not swallowed."""
    root = make_bag(tmp_path)
    (root / "data" / "extra.txt").write_text("not listed, and not counted in Payload-Oxum")
    monkeypatch.setattr(bag_module, "_check_oxum", lambda *args: None)
    report = validate_bag(root)
    assert "payload-oxum" in rules(report.problems, "error")
    assert any(p.message.startswith("bagit refuses") for p in report.problems)
