"""What a user would write instead of auxstream: the benchmark's peers."""
