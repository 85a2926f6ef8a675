"""Scenes: the camera rig and conventions (:mod:`.cameras`), the nerfstudio-format scene folders every source writes
(:mod:`.dataset_io`), image reading (:mod:`.images`), the built-in procedural scenes (:mod:`.procedural`), the mesh
renderer (:mod:`.mesh`: Open3D), the real-image set (:mod:`.real_images`, from the photographs of :mod:`.photos`), and
the sources that fill them from a config entry (:mod:`.sources`).

Importing the package imports nothing else: the workflow reads :mod:`.sources.registry` while it builds the DAG."""
