"""Helpers shared by test packages (servers in threads, STOW bodies, service checks)."""
