"""The streaming topology: Faust workers on Kafka driving the pure core (contract §2-§3)."""
