"""The application layer: the runtime every node shares and the one job pipeline
(plan → obtain → outputs) that every node runs through."""
