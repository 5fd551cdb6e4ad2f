from setuptools import setup

setup(
    name="gw-broken",
    version="0.1.0",
    description="A girder_worker task plugin whose task_imports() raises.",
    packages=["gwbroken"],
    install_requires=["girder-worker"],
    entry_points={"girder_worker_plugins": ["gwbroken = gwbroken:BrokenPlugin"]},
)
