from girder_worker import GirderWorkerPluginABC


class BrokenPlugin(GirderWorkerPluginABC):
    def __init__(self, app, *args, **kwargs):
        self.app = app

    def task_imports(self):
        raise RuntimeError("the broken plugin cannot list its tasks")
