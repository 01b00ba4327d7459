"""Changes within seconds: SageMaker's EventBridge events, applied from an SQS queue.

With SYNCER_EVENTS_QUEUE_URL set, a consumer long-polls the queue beside the
loop (syncer/service.py) and applies each model-package event, and each
CloudTrail delete call, to the mirror: ``parse`` types a message, ``apply``
applies it in one transaction (through the change feed's statement, in
LastModifiedTime order), ``consumer`` receives and deletes, ``health`` says
whether the queue works. The cycles stay the backstop. How to deploy it, and
its rules: docs/operations/events.md.
"""
