"""Speakers: the records, the search of their names, statements about them, ratings on them."""
