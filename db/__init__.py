"""The data layer: the models and the SQL of each domain (search, clusters, tiles,
profiles, hours, bookings, notifications, route orders, routes, accounts, the gazetteer),
the engines and read pools, public reads on the replica, and what lives in Redis beside
the database (the answer cache and its generations, rate-limit windows, token versions).
Seeding too. Nothing here knows HTTP."""
