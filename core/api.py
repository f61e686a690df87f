"""The API's blueprints: flask-smorest's, with an arguments parser that makes each schema once.

webargs makes a new schema instance from a schema class for every request it parses (and the
shared read parses two: the query and the headers). The hub's argument schemas hold no state
of a request (marshmallow 4 has no schema context), so one instance per class serves every
request, on every thread."""

from __future__ import annotations

import functools
from typing import Any

import flask_smorest
import marshmallow as ma
from webargs.flaskparser import FlaskParser


@functools.cache
def _instance(schema: type[ma.Schema]) -> ma.Schema:
    return schema()


class _SchemaOnceParser(FlaskParser):
    def _get_schema(self, argmap: Any, req: Any) -> ma.Schema:
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            return _instance(argmap)
        return super()._get_schema(argmap, req)


class Blueprint(flask_smorest.Blueprint):
    """A flask-smorest Blueprint whose argument schemas are made once, not per request."""

    ARGUMENTS_PARSER = _SchemaOnceParser()
