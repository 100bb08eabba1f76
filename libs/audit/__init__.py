"""Where the access model meets PostgreSQL and Kafka: the access facts every service projects
from ``consent.events`` (what a decision reads) and the hash-chained access log (what every
decision writes). The pure model and policy are in ``libs/access``."""
