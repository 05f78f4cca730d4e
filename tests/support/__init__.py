"""Support code for the tests: the running stack, PostgreSQL and Twilio stand-ins, the dialogue runner,
database fixtures. Nothing here is collected as a test."""
