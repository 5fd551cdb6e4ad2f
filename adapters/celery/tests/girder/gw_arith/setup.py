from setuptools import setup

setup(
    name="gw-arith",
    version="1.0.0",
    description="A girder_worker task plugin, written as girder_worker's documentation writes one.",
    packages=["gwarith"],
    install_requires=["girder-worker"],
    entry_points={
        "girder_worker_plugins": [
            "gwarith = gwarith:ArithPlugin",
        ]
    },
)
