"""Local development host: Azurite plus a driver for function_app's triggers (no Core Tools needed)."""
