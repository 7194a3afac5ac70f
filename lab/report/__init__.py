"""Handlers of the run's event stream: the terminal view and the JSON document."""
