"""Agent pages of Operation: queues, incidents, service requests (see the modules)."""
