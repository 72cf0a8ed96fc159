"""Clients: the registry of applications, their metadata, secrets and policy."""
