"""OpenTelemetry traces of the flow (metrics are `gureum.metrics`, logs `gureum.logs`)."""
