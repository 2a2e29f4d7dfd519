"""RunComfy Model API nodes: schema → node class → request → job → result."""
