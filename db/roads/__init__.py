"""The road network: OpenStreetMap ways loaded as a pgRouting graph (loader), and the
drives between points reckoned on it (matrix)."""
