"""The kinds of autoencoder a config entry can be (``autoencoders.<name>.kind``): one module each, listed in
:mod:`igae.ae.kinds.registry`, which declares the entry's schema, its checks, the files its job reads, whether the job
trains, and holds the job itself (``build``); :mod:`igae.ae.kinds.kind` defines what a kind declares."""
