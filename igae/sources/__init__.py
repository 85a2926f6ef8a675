"""Scene and real-image sources: one module per scene source (:mod:`igae.sources.registry` lists them; each declares
its config schema, its scene names and its build function), resumable verified downloads of the authors' release and
of Objaverse, and the conversion of posed images (nerfstudio, Blender layouts) into the scene folders of
:mod:`igae.scenes.dataset_io`."""
