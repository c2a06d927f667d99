"""Settings: the home folder and its paths, profiles, and secrets."""
