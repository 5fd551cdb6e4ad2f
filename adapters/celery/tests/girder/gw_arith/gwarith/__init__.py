from girder_worker import GirderWorkerPluginABC


class ArithPlugin(GirderWorkerPluginABC):
    def __init__(self, app, *args, **kwargs):
        self.app = app
        self.app.conf.update({"task_time_limit": 300})

    def task_imports(self):
        return ["gwarith.tasks"]
