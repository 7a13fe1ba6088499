"""Packaging for hifi_nb. Metadata and requirements live in `settings.ini` (nbdev 2 layout)."""
from configparser import ConfigParser
from pathlib import Path

import setuptools
from setuptools.command.build_py import build_py

here = Path(__file__).resolve().parent
cfg = ConfigParser(delimiters=["="])
cfg.read(here / "settings.ini", encoding="utf-8")
c = cfg["DEFAULT"]


def _split(key):
    return [r for r in c.get(key, "").split() if r]


# The per-run notebook of `hifi-nb reproduce` is kept once, in nbs/; the wheel carries a copy as package data
# (`hifi_nb/experiments/glue_run.ipynb`), where `hifi_nb.reproduce.run_notebook_path` looks first.
RUN_NOTEBOOK = ("nbs/experiments/glue_run.ipynb", "experiments/glue_run.ipynb")


class build_py_with_run_notebook(build_py):
    "build_py that also copies the per-run notebook from nbs/ into the built package (not for editable installs)."

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install uses the checkout's nbs/ directly
            return
        src, rel = RUN_NOTEBOOK
        if not (here / src).exists():
            raise FileNotFoundError(f"{src} is missing: the wheel must ship the per-run notebook")
        dst = Path(self.build_lib) / c["lib_name"] / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        self.copy_file(str(here / src), str(dst))

    def get_outputs(self, include_bytecode=1):
        out = super().get_outputs(include_bytecode)
        if not getattr(self, "editable_mode", False):
            out.append(str(Path(self.build_lib) / c["lib_name"] / RUN_NOTEBOOK[1]))
        return out


readme = here / "README.md"
setuptools.setup(
    name=c["lib_name"],
    version=c["version"],
    description=c["description"],
    long_description=readme.read_text(encoding="utf-8") if readme.exists() else c["description"],
    long_description_content_type="text/markdown",
    author=c["author"],
    author_email=c["author_email"],
    license="Apache-2.0",
    url=c["git_url"],
    keywords=c["keywords"].split(),
    python_requires=">=" + c["min_python"],
    packages=setuptools.find_packages(include=[c["lib_name"], c["lib_name"] + ".*"]),
    include_package_data=True,
    package_data={c["lib_name"]: ["profiles/*.json", "experiments/*.ipynb"]},
    cmdclass={"build_py": build_py_with_run_notebook},
    install_requires=_split("requirements"),
    # CuPy ships one wheel per CUDA major version: [gpu] for CUDA 12, [gpu-cuda13] for CUDA 13 (hifi_nb.heads.cupy_wheel)
    extras_require={"dev": _split("dev_requirements"), "gpu": ["cupy-cuda12x"], "gpu-cuda13": ["cupy-cuda13x"]},
    entry_points={
        "console_scripts": [s.strip() for s in c.get("console_scripts", "").split() if s.strip()],
        "nbdev": [f"{c['lib_name']}={c['lib_name']}._modidx:d"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
    project_urls={"Source": c["git_url"]},
    zip_safe=False,
)
