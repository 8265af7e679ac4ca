"""The registry's SQL store, one module per job.

``tables`` (SQLAlchemy classes) and ``records`` (rows to records and back); ``engine`` (engines
and transactions); ``setup`` (migrations in ``migrations/``, taxonomy sync, seeding);
``registry`` (organisations, cooperations, change callbacks) with ``transfer`` (bulk upserts
from files); ``keys`` (API keys); ``feedback`` (verdicts on suggestions); ``values``
(checking values given to the store).
"""
