"""Packaging for hifi_nb. Metadata and requirements live in `settings.ini` (nbdev 2 layout)."""
from configparser import ConfigParser
from pathlib import Path

import setuptools

here = Path(__file__).parent
cfg = ConfigParser(delimiters=["="])
cfg.read(here / "settings.ini", encoding="utf-8")
c = cfg["DEFAULT"]


def _split(key):
    return [r for r in c.get(key, "").split() if r]


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
    install_requires=_split("requirements"),
    extras_require={"dev": _split("dev_requirements"), "gpu": ["cupy-cuda12x"]},
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
