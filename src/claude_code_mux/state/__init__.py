"""Shared state for a fleet of router instances: in-process by default, Redis when scaled out."""
