"""The demo map at /map: the API's tiles, profiles, geocoding, nearby search and routes in
a page that needs nothing but this server (app/map/static, vendored from npm)."""
