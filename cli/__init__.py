"""The ``neurocodec`` command line (installed as the ``neurocodec_cli`` package)."""
