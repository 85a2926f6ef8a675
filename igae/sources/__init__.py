"""External data sources: resumable, verified downloads of the authors' release, and converters of public datasets
(ShapeNet-SRN) into the scene folders of :mod:`igae.scenes.dataset_io`."""
