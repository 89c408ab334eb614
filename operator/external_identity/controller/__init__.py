"""The kopf controller: handlers wire cluster events to the refresher and the writers."""

__all__: list[str] = []
