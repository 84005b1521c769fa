"""Vector tiles of providers for map clients, and the TileJSON that describes them."""
