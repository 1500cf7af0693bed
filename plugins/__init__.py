"""Plugins shipped with Sésame; each is enabled by name in ``IDP_PLUGINS``."""
