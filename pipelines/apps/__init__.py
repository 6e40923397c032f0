"""The apps: the only code that turns names (CLI flags, config, dropdowns) into engines and runs flows."""
