"""Database layer: models, engine, repositories (SQL lives here), seeding."""
