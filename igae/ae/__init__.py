"""The autoencoder stage: one folder format for every AE (:mod:`.autoencoder`: loading, the latent normaliser, the
latent background, the card), the kinds a config entry can be and their jobs (:mod:`.kinds`: pretrained, trained
here, IG-AE), what trains them (:mod:`.standard_training`; :mod:`.igae_training` with the Tri-Planes of
:mod:`.triplanes`, configured by :mod:`.training_configs`), the encoded latents every latent NeRF fits (:mod:`.latents`)
and the reconstruction quality of any AE (:mod:`.evaluation`).

Importing the package imports nothing else: the workflow reads :mod:`.kinds.registry` while it builds the DAG."""
