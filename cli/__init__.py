"""The ``ehr`` command: the top of the layers. It walks the services' manifests
(``cli/manifests.py``) and is, with each service's ``app.py``, the only place that reads
settings from the environment."""
