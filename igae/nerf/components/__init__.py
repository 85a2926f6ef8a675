"""Parts the latent models are composed of (nerfstudio's ``model_components``): C-channel field heads and metrics
(:mod:`.latent_heads`), the latent renderer (:mod:`.renderers`), the splatting rasterizer with its two backends
(:mod:`.rasterize`), nerfacc's CUDA 13 build hook (:mod:`.nerfacc_cuda13`) and the offline guard of nerfstudio's
LPIPS (:mod:`.offline`)."""
