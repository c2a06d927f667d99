"""HTTP plumbing shared by both clients: the retry policy, Retry-After, time and money formats."""
