"""The twin of FTD's supplier API: its HTTP app, feeds, offers, orders and shop."""
