"""AME's database layer: schema, engine factory and the SQL stores, one module per port.

Import what you need from its module (chalicelib.adapters.db.repository, .deliveries, .search...):
this package imports nothing itself, so code that does not touch the database never pays for SQLAlchemy."""
