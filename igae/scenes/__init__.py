"""Scenes: cameras and the camera rig, the image reader, the built-in procedural scenes and the mesh renderer
(:mod:`igae.scenes.mesh`, imported on its own: Open3D), and the nerfstudio-format scene folders every source writes
(the sources themselves: :mod:`igae.sources`)."""

from igae.scenes.cameras import look_at_c2w_opencv, opencv_to_opengl, orbit_positions, project_points
from igae.scenes.dataset_io import SceneData, load_scene, write_scene
from igae.scenes.procedural import FAMILIES, ProceduralSceneConfig, build_procedural_dataset, render_scene

__all__ = [
    "FAMILIES",
    "ProceduralSceneConfig",
    "SceneData",
    "build_procedural_dataset",
    "load_scene",
    "look_at_c2w_opencv",
    "opencv_to_opengl",
    "orbit_positions",
    "project_points",
    "render_scene",
    "write_scene",
]
