"""Test support: real servers on loopback (gureum, fake provider upstreams)."""
