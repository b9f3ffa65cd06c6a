"""strongroom: a dark archive for scholarly content."""

__version__ = "0.1.0"
