"""Settings read from the environment and the validation of the business data files."""
