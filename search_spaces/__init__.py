"""Search spaces shipped with sweeper: ``python -m sweeper spaces`` lists them."""
