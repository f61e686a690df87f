"""The Prevent Information Sharing Hub: the Flask application and its institution workflow."""
