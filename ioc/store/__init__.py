"""The shared store: models, engine and sessions, migrations, bulk upsert, pack loading."""
