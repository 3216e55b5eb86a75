"""The Functions app: registers one blueprint per trigger kind. Nothing heavy is imported here:
SDK clients are built on first use by aibtrigger.bootstrap, so a cold start pays only for what runs."""
import azure.functions as func

from aibtrigger.entrypoints import http, queues

app = func.FunctionApp()
app.register_functions(queues.bp)
app.register_functions(http.bp)
