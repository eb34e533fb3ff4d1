"""Fulfilment: shipments of replacement units."""
