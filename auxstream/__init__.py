"""auxstream: contact-centre agent state streaming (segments, intervals, AUX detections)."""

__version__ = "0.1.0"
