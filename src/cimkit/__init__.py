"""cimkit."""
