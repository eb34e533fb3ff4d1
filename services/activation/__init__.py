"""Activation: binds plan codes to devices."""
