"""HTTP adapters: OAuth endpoints and the admin API, thin over the domain."""
