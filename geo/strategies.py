"""The ways a nearby search can find its providers, named apart from the SQL that runs them
(db.search) so that settings can offer them without loading the database layer."""

import enum


class SearchStrategy(enum.StrEnum):
    gist = "gist"
    """The spatial index, in distance order: the product's strategy."""
    bbox = "bbox"
    """A latitude/longitude box on btree indexes, then the exact distance."""
    naive = "naive"
    """Every active provider read into Python and filtered there (benchmarks only)."""
