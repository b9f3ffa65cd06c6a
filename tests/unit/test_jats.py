"""JATS metadata: round trips with the sample generator, untrusted-XML safety, tolerance of gaps."""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace

import pytest

from strongroom.domain.jats import Article, JatsError, parse_jats
from strongroom.local.demo.samples import PRESS, SOCIETY, make_articles, write_jats


def parse(xml: str | bytes, name: str = "article.xml") -> Article:
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    return parse_jats(io.BytesIO(data), name=name)


def minimal(meta: str = "", journal: str = "", root_attrs: str = "") -> str:
    return (
        f'<article xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'xmlns:ali="http://www.niso.org/schemas/ali/1.0/" {root_attrs}><front>'
        f"<journal-meta>{journal}</journal-meta><article-meta>{meta}</article-meta></front></article>"
    )


@pytest.mark.parametrize("journal", [SOCIETY, PRESS], ids=["pages", "elocation"])
def test_round_trip_gives_the_generated_fields(journal):
    for sample in make_articles(3, 7, journal):
        art = parse(write_jats(sample))
        assert art.title == sample.title
        assert [(a.given, a.surname, a.orcid, a.affiliations) for a in art.authors] == [
            (a.given, a.surname, a.orcid, (a.affiliation,)) for a in sample.authors
        ]
        assert art.doi == sample.doi
        assert art.journal_title == journal.journal_title
        assert (art.issn, art.eissn) == (journal.issn, journal.eissn)
        assert art.publisher == journal.publisher_name
        assert (art.volume, art.issue) == (sample.volume, sample.issue)
        assert (art.fpage, art.lpage, art.elocation_id) == (sample.fpage, sample.lpage, sample.elocation_id)
        assert art.pub_date == sample.pub_date  # epub wins over the collection date
        assert art.abstract == sample.abstract
        assert art.license_url == sample.license_url
        assert art.license_text == sample.license_text
        assert art.self_uris == (sample.url, "article.pdf")
        assert art.article_type == sample.article_type
        assert art.keywords == sample.keywords
        assert art.assets == ("fig1.png",)
        json.dumps(art.as_dict())  # JSON-ready
        assert art.as_dict()["authors"][0]["name"] == f"{sample.authors[0].given} {sample.authors[0].surname}"


def test_markup_in_a_title_stays_text():
    xml = minimal(
        "<title-group><article-title>Why &lt;script&gt;alert(1)&lt;/script&gt; is "
        "<italic>not</italic> run<xref ref-type='fn' rid='fn1'>*</xref></article-title></title-group>"
    )
    assert parse(xml).title == "Why <script>alert(1)</script> is not run"

    sample = replace(
        make_articles(1, 0, SOCIETY)[0], title='A <script>alert("x")</script> & <b>bold</b> title', italic=()
    )
    data = write_jats(sample)
    assert b"<script>" not in data  # escaped in the XML ...
    assert parse(data).title == sample.title  # ... and literal text again after parsing


def test_external_entities_are_never_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xml = (
        f'<?xml version="1.0"?><!DOCTYPE article [<!ENTITY x SYSTEM "file://{secret}">'
        f'<!ENTITY y SYSTEM "file:///etc/passwd">]>'
        + minimal("<title-group><article-title>a&x;b&y;c</article-title></title-group>")
    )
    art = parse(xml)
    assert art.title == "abc"
    assert "TOP-SECRET" not in json.dumps(art.as_dict())


def test_no_dtd_or_network_is_fetched():
    # A parameter entity and an external DTD pointing at an unroutable address: parsing must not try them.
    xml = (
        '<?xml version="1.0"?><!DOCTYPE article SYSTEM "http://10.255.255.1/jats.dtd" '
        '[<!ENTITY % p SYSTEM "http://10.255.255.1/evil.dtd"> %p;]>'
        + minimal("<title-group><article-title>t</article-title></title-group>")
    )
    started = time.monotonic()
    try:
        assert parse(xml).title == "t"
    except JatsError:
        pass  # refusing is as good as ignoring
    assert time.monotonic() - started < 2


def test_billion_laughs_is_refused_quickly():
    entities = '<!ENTITY l0 "lol">' + "".join(f'<!ENTITY l{i} "{("&l%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    xml = f'<?xml version="1.0"?><!DOCTYPE article [{entities}]>' + minimal(
        "<title-group><article-title>&l9;</article-title></title-group>"
    )
    started = time.monotonic()
    try:
        art = parse(xml)
    except JatsError as exc:
        assert "article.xml" in str(exc)
    else:
        assert len(art.title or "") < 1000  # harmless: not expanded
    assert time.monotonic() - started < 2


def test_missing_optional_fields_are_none():
    art = parse(minimal("<title-group><article-title>Only a title</article-title></title-group>"))
    assert art.title == "Only a title"
    assert art.authors == () and art.keywords == () and art.self_uris == ()
    for name in (
        "doi",
        "journal_title",
        "issn",
        "eissn",
        "publisher",
        "volume",
        "issue",
        "fpage",
        "lpage",
        "elocation_id",
        "pub_date",
        "abstract",
        "license_url",
        "license_text",
        "article_type",
    ):
        assert getattr(art, name) is None, name
    assert parse(minimal("")).title is None


def test_older_and_varied_tagging():
    journal = (
        '<journal-title>Old Style Journal</journal-title><issn pub-type="epub">1234-5679</issn><issn>2345-6789</issn>'
    )
    meta = """
      <article-id pub-id-type="doi">https://doi.org/10.5555/Old.1</article-id>
      <title-group><article-title>T</article-title></title-group>
      <contrib-group>
        <contrib contrib-type="author"><string-name><given-names>Ada</given-names> <surname>Byron</surname></string-name>
          <contrib-id contrib-id-type="orcid">0000-0002-1825-0097</contrib-id>
          <aff>Analytical Engine Society</aff></contrib>
        <contrib><collab>The Strongroom Consortium</collab></contrib>
        <contrib contrib-type="editor"><name><surname>Ed</surname></name></contrib>
      </contrib-group>
      <pub-date pub-type="ppub"><season>Spring</season><year>2019</year></pub-date>
      <pub-date pub-type="collection"><month>3</month><year>2019</year></pub-date>
      <elocation-id>e42</elocation-id>
      <permissions><license><ali:license_ref>https://creativecommons.org/licenses/by/4.0/</ali:license_ref>
        <license-p>CC BY.</license-p><license-p>Second paragraph.</license-p></license></permissions>
      <abstract><sec><title>Background</title><p>First.</p></sec><sec><title>Results</title><p>Second.</p></sec></abstract>
      <abstract abstract-type="graphical"><p>ignored</p></abstract>
    """
    art = parse(minimal(meta, journal, 'article-type="review-article"'))
    assert art.journal_title == "Old Style Journal"
    assert (art.issn, art.eissn) == ("2345-6789", "1234-5679")
    assert art.doi == "10.5555/Old.1"
    assert art.authors[0].name == "Ada Byron"
    assert art.authors[0].orcid == "https://orcid.org/0000-0002-1825-0097"
    assert art.authors[0].affiliations == ("Analytical Engine Society",)
    assert art.authors[1].collab == "The Strongroom Consortium" and art.authors[1].name == "The Strongroom Consortium"
    assert len(art.authors) == 2  # editors are not authors
    assert art.pub_date == "2019"  # ppub (a season: year precision) beats the collection date
    assert art.elocation_id == "e42" and art.fpage is None
    assert art.license_url == "https://creativecommons.org/licenses/by/4.0/"
    assert art.license_text == "CC BY.\n\nSecond paragraph."
    assert art.abstract == "Background\n\nFirst.\n\nResults\n\nSecond."
    assert art.article_type == "review-article"


def test_date_precision_and_preference():
    meta = (
        "<title-group><article-title>T</article-title></title-group>"
        '<pub-date pub-type="ppub"><day>2</day><month>2</month><year>2020</year></pub-date>'
        '<pub-date publication-format="electronic" date-type="pub"><month>1</month><year>2020</year></pub-date>'
    )
    assert parse(minimal(meta)).pub_date == "2020-01"


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "not well-formed"),
        (b"%PDF-1.4 not xml", "not well-formed"),
        (b"<article><front>", "not well-formed"),
        (b"<book><front/></book>", "<book>"),
        (b"<article><body/></article>", "no <front>"),
        (b"<article><front><journal-meta/></front></article>", "no <article-meta>"),
    ],
)
def test_errors_name_the_file_and_the_problem(data, words):
    with pytest.raises(JatsError) as info:
        parse_jats(io.BytesIO(data), name="data/a1/article.xml")
    assert "data/a1/article.xml" in str(info.value)
    assert words in str(info.value)
