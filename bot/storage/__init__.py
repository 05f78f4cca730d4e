"""Database models, engine and sessions, demo seed data and the durable outbox."""
