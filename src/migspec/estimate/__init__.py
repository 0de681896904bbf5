"""Pure functions: measurements -> durations, each with the figures it came from."""
