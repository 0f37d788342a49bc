"""The business data the services write: the application database and the model's records."""
