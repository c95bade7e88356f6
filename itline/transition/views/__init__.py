"""Agent pages of Transition. Thin: reads, then one verb per write; every verb error becomes
a message or a field error, never a 500."""
