"""Page and API views, one module per page or feature; access checks live in access.py."""
