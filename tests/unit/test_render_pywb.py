"""The pywb root: config, collection layout, and a banner whose text pywb's own Jinja cannot execute."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import yaml

from strongroom.local.demo.site import sample_titles
from strongroom.render import render_release

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_collection_layout_config_and_banner(tmp_path):
    titles = sample_titles(tmp_path / "in", articles=1)
    titles[1] = replace(titles[1], journal_title="Review {{ 7*7 }} <i>of</i> {% raw %}History")
    report = render_release(
        titles,
        tmp_path / "out",
        site_base_url="https://s.example",
        now=NOW,
        replay_base_url="https://r.example",
        use_pagefind=False,
    )
    root = report.replay_root
    config = yaml.safe_load((root / "config.yaml").read_text("utf-8"))
    assert config["collections_root"] == "collections" and config["framed_replay"] is True
    for title in titles:
        coll = root / "collections" / title.collection
        assert (coll / "archive" / f"{title.publisher_id}-{title.title_id}.warc.gz").is_file()
        assert (coll / "indexes" / "index.cdxj").stat().st_size > 0
        assert {p.name for p in (coll / "templates").iterdir()} == {
            "banner.html",
            "custom_banner.html",
            "frame_insert.html",
        }
        assert yaml.safe_load((coll / "metadata.yaml").read_text("utf-8"))["title"] == title.journal_title
    banner = (root / "collections" / titles[1].collection / "templates" / "banner.html").read_text("utf-8")
    assert 'rel="license" href="https://creativecommons.org/licenses/by/4.0/"' in banner
    assert "2025-03-01" in banner and "publisher ceased" in banner
    assert "{" not in banner and "}" not in banner  # nothing pywb's Jinja could read as a template
    assert "Review &#123;&#123; 7*7 &#125;&#125; &lt;i&gt;of&lt;/i&gt; &#123;% raw %&#125;History" in banner
