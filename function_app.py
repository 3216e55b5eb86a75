"""The Functions app: registers one blueprint per trigger kind. Nothing heavy is imported here:
SDK clients are built on first use by aibtrigger.bootstrap, so a cold start pays only for what runs."""

import azure.functions as func

from aibtrigger.entrypoints import eventgrid, http, queues, status, timers, versions

app = func.FunctionApp()
for blueprint in (queues.bp, http.bp, eventgrid.bp, timers.bp, status.bp, versions.bp):
    app.register_functions(blueprint)
