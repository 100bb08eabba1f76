"""services/consent: care relations, consents, blocks, restrictions, emergency access, proxies."""
