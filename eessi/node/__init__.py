"""Layer 5: the institution node that glues transport, journal and the pure core.

* :mod:`~eessi.node.institution`: :class:`~eessi.node.institution.Institution` (receive,
  validate, journal, desk, outbox, send; restart from the journal);
* :mod:`~eessi.node.network`: open one institution or several of a directory in one process;
* :mod:`~eessi.node.desk_factory`, :mod:`~eessi.node.households`: which desk, which people;
* :mod:`~eessi.node.inputs`: what can be submitted (fund actions as values);
* :mod:`~eessi.node.hooks`: seams for mock behaviours (outbound policy, inbound interceptor);
* :mod:`~eessi.node.records`: the JSON the node writes (events, case snapshots, input log).

Import from the submodules (this package imports nothing, so ``eessi.node.admin`` can import
``eessi.node.institution`` without a cycle).
"""

from __future__ import annotations
