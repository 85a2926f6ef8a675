"""The kinds of autoencoder a config entry can be (``autoencoders.<name>.kind``): one module each, registered in
:mod:`igae.autoencoder_kinds.registry`, which declares the entry's schema, its checks, the files its job reads, what it
trains and how it builds the AE folder, calling :mod:`igae.autoencoder_jobs`."""
