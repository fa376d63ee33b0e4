"""PNG reading and writing for the figure scripts, without torch: the package's own codec
(python/ldm_vk/png.py, standard library only), loaded by path so that ldm_vk's torch imports do not run."""
import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "ldm_vk_png", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python", "ldm_vk", "png.py"))
_png = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_png)

read_png = _png.decode
write_png = _png.encode
