"""Answer generation: the engine that runs each answer as its own task, and what records its end."""
