"""`pushlift serve`: the engine behind an HTTP API, with the dashboard in the same process."""
