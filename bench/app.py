"""The hub plus benchmark endpoints, served by gunicorn in `make bench` only."""

from bench.endpoints import blueprint
from hub.app import create_app

app = create_app()
app.register_blueprint(blueprint)
