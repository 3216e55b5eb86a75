"""Ports (Protocols) and their implementations. Vendor errors never leave this package."""
