"""auxstream: contact-centre agent state streaming (segments, intervals, AUX detections)."""

from auxstream import _native

__version__ = "0.1.0"

_native.install()
