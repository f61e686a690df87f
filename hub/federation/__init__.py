"""Hub-to-hub federation: peer hubs, federated speaker search, mutual witnessing."""
