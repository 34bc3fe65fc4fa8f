"""The dashboard: pages in the browser over the admin API of every institution of a network.

Served at ``/ui/`` by every node (:func:`add_dashboard`, called where the node mounts its admin
API) and, for ``eessi up``, over the whole network (:func:`join_network`: every node's
dashboard then lists every institution of the process); ``eessi demo --web`` serves it on its
own port (:func:`dashboard_app`) next to a scenario played step by step
(:class:`~eessi.web.demo.DemoPlayer`). Plain HTML, CSS and JavaScript shipped in
``eessi/web/static``: nothing to build, nothing fetched from elsewhere. ``docs/dashboard.md``
is the guide.
"""

from __future__ import annotations

from eessi.web.app import DASHBOARD, Dashboard, add_dashboard, dashboard_app, join_network

__all__ = ["DASHBOARD", "Dashboard", "add_dashboard", "dashboard_app", "join_network"]
