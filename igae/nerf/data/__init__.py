"""Datamanagers of the latent fits: ray batches of encoded latents (:mod:`.ray_datamanager`) and whole latent images,
one camera per step, for the methods that render cameras (:mod:`.camera_datamanager`)."""
