"""Browser tests of a released site and its replay."""
