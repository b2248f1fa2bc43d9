"""A person's data rights: erasure, requests at the counter, retention."""
