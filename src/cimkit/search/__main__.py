"""``python -m cimkit.search``: the cimkit app with the search commands registered."""

from cimkit.cli import app
from cimkit.search.cli import COMMANDS, register

if not {c.name for c in app.registered_commands} & set(COMMANDS):
    register(app)

if __name__ == "__main__":
    app()
