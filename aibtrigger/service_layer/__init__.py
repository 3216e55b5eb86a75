"""Handlers: plan -> request -> start -> poll -> collect -> publish. Dependencies come in as parameters."""
