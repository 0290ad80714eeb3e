"""Tables and figures built from topology results and stored runs."""
