"""Scene and real-image sources: one module per source (:mod:`igae.scenes.sources.registry` lists them; each scene
source declares its config schema, its scene names and its build function), resumable verified downloads of the authors'
release and of Objaverse, and the conversion of posed images (nerfstudio, Blender layouts) into the scene folders of
:mod:`igae.scenes.dataset_io`."""
