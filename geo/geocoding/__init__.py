"""Geocoding: turn a typed address into a point, without overrunning a slow upstream.

`base` holds the protocol and the pieces every geocoder shares; `nominatim` is the
upstream client; `cache`, `limiter` and `single_flight` are the Redis-coordinated
guards; `chain` puts them together in the order the product needs.
"""
