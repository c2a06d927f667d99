"""The state database: the store (one transaction primitive), its migrations, typed bookmarks."""
