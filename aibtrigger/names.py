"""Fixed names of queues, tables and containers. Standard library only: function_app.py's bindings
need them at import time, before (and without) loading settings or pydantic (cold start)."""

REQUESTS_QUEUE = "aib-requests"  # build requests: manual messages and the planner's decisions
POLLS_QUEUE = "aib-polls"  # delayed "look at this run again" messages
RESULTS_QUEUE = "aib-results"  # published CloudEvents when the queue publisher is chosen
POISON_SUFFIX = "-poison"  # as the Functions host names them
LOGS_CONTAINER = "aibtrigger-logs"  # build logs copied out of the staging storage
CLAIMS_TABLE = "aibclaims"
RUNS_TABLE = "aibruns"
OUTCOMES_TABLE = "aiboutcomes"
TEMPLATES_TABLE = "aibtemplates"  # per-template summaries the planner reads
SOURCES_TABLE = "aibsources"  # the source versions seen so far (marketplace sweep, gallery events)
