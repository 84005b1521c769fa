"""Pure geospatial logic: no web framework, no database sessions."""
