"""The audit's checks, one module per area; :mod:`simulator.audit.catalog` lists them."""
