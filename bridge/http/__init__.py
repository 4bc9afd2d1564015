"""The aggregator's HTTP side: the MT client with site failover, the callback receiver."""
