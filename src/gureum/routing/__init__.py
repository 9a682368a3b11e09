"""The model catalog, the router and per-deployment circuit breakers."""
