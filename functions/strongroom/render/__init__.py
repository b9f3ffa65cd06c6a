"""Release rendering: from released titles to WARC + CDXJ + pywb collections, a static site and WACZs.

Pure: it reads files only through the ``open()`` callables it is given and writes only
into the output directory. The release flow wires it to the buckets.
"""

from strongroom.render.model import (
    ReleasedArticle,
    ReleasedAu,
    ReleasedFile,
    ReleasedTitle,
)
from strongroom.render.release import RenderReport, render_release

__all__ = ["ReleasedArticle", "ReleasedAu", "ReleasedFile", "ReleasedTitle", "RenderReport", "render_release"]
