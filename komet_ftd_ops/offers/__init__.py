"""Komet inventory -> FTD offers: ids, the transform, the quota plan, and the feed."""
