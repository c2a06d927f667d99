"""The twin of Komet Sales: its HTTP app, database, methods and tampering."""
