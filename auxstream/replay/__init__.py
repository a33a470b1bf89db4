"""`auxstream replay`: the streaming engine over a file, with the same core as the workers."""
