"""Models in and out: the teacher cache, a given teacher, saved students, the checkpoint format."""
