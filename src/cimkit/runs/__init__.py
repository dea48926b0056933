"""Stored runs and the designs in them: re-evaluate, export and manage.

Modules: :mod:`.design` (a stored design re-evaluated with the cost model, shared with the
dashboard), :mod:`.genome` (the genome file of an exported design and the one ``--genome``
reader of the commands that take a network), :mod:`.export` (``cimkit export``),
:mod:`.manage` (``cimkit runs list|show|delete``).
"""
