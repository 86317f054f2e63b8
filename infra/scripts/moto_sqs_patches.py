"""SQS message move tasks for moto, applied when the local emulator starts.

moto 5.2.5 has no StartMessageMoveTask, ListMessageMoveTasks or CancelMessageMoveTask (the API
behind the console's "Start DLQ redrive"): it answers them with HTTP 500. This adds the three
operations with AWS's behaviour, so `flyt dlq redrive` takes the same path locally as on AWS:

- StartMessageMoveTask {SourceArn, DestinationArn?, MaxNumberOfMessagesPerSecond?} -> {TaskHandle}.
  The source must exist and be the dead-letter queue of some queue, a given destination must exist
  and be of the same type (standard or FIFO), MaxNumberOfMessagesPerSecond is 1 to 500, and a
  source has one active task at a time. The task runs in the background: it takes the messages
  visible when it starts (ApproximateNumberOfMessagesToMove), oldest first, and moves each as a new
  message (new id, new receive count, body and message attributes intact) to the destination, or
  without one to the queue whose RedrivePolicy names the DLQ, then deletes it from the DLQ; at most
  MaxNumberOfMessagesPerSecond a second when given. Status RUNNING, then COMPLETED, FAILED (with a
  FailureReason; a message being moved stays in the DLQ) or, after a cancel, CANCELLED.
- ListMessageMoveTasks {SourceArn, MaxResults? (1 to 10, default 1)} -> {Results}, most recent
  first; TaskHandle only on a RUNNING task, as on AWS.
- CancelMessageMoveTask {TaskHandle} -> {ApproximateNumberOfMessagesMoved}; only a RUNNING task.
  Messages already moved stay moved.

The task handle is AWS's: base64 of {"taskId", "sourceArn"}. Errors carry AWS's codes
(ResourceNotFoundException, InvalidParameterValue). One difference remains: without a
DestinationArn, AWS returns each message to the queue it was dead-lettered from, which it records
on the message; moto records no such thing, so here a DLQ with several source queues fails the
task with a FailureReason saying so (Flyt's DLQs have one source each).
"""

import base64
import copy
import json
import threading
import time
import uuid

from moto.core.responses import ActionResult
from moto.sqs.exceptions import SQSException
from moto.sqs.models import sqs_backends
from moto.sqs.responses import SQSResponse

_lock = threading.Lock()
# How long a message being moved is hidden from consumers (it is deleted right after its copy is sent).
_HIDE_SECONDS = 300


def _error(code, message):
    """An error with AWS's code and message (moto's own class, so moto serialises it as SQS's)."""
    return SQSException(code, message)


class _Task:
    def __init__(self, source, destination_arn, rate):
        self.id = str(uuid.uuid4())
        self.source_arn = source.queue_arn
        self.handle = base64.b64encode(
            json.dumps({"taskId": self.id, "sourceArn": self.source_arn}, separators=(",", ":")).encode()
        ).decode()
        self.destination_arn = destination_arn
        self.rate = rate
        self.status = "RUNNING"
        self.moved = 0
        self.to_move = len(source.messages)
        self.started = int(time.time() * 1000)
        self.failure = None
        self.cancelled = threading.Event()

    def entry(self):
        entry = {
            "Status": self.status,
            "SourceArn": self.source_arn,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started,
        }
        if self.status == "RUNNING":
            entry["TaskHandle"] = self.handle
        if self.destination_arn:
            entry["DestinationArn"] = self.destination_arn
        if self.rate:
            entry["MaxNumberOfMessagesPerSecond"] = self.rate
        if self.failure:
            entry["FailureReason"] = self.failure
        return entry


def _queue_by_arn(arn, parameter):
    parts = (arn or "").split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise _error(
            "InvalidParameterValue",
            f"You must use this format to specify the {parameter}: "
            "arn:<partition>:<service>:<region>:<account-id>:<resource-id>",
        )
    _, _, _, region, account, name = parts
    backend = sqs_backends[account][region]
    queue = backend.queues.get(name)
    if queue is None:
        raise _error(
            "ResourceNotFoundException",
            f"The resource that you specified for the {parameter} parameter doesn't exist.",
        )
    return backend, queue


def _sources_of(backend, dlq):
    return [q for q in backend.queues.values() if q.dead_letter_queue is dlq]


def _tasks(backend):
    if not hasattr(backend, "_message_move_tasks"):
        backend._message_move_tasks = []
    return backend._message_move_tasks


def _move(task, backend, source, destination_arn):
    """Moves the task's messages; runs on its own thread."""
    try:
        if destination_arn:
            destination = _queue_by_arn(destination_arn, "DestinationArn")[1]
        else:
            sources = _sources_of(backend, source)
            if len(sources) != 1:
                raise RuntimeError(
                    f"the DLQ has {len(sources)} source queues and the emulator does not record "
                    "which one each message came from: give a DestinationArn"
                )
            destination = sources[0]
        while task.moved < task.to_move and not task.cancelled.is_set():
            message = next(iter(source.messages), None)
            if message is None:
                break
            message.change_visibility(_HIDE_SECONDS)
            try:
                backend.send_message(
                    destination.name,
                    message.body,
                    message_attributes=copy.deepcopy(message.message_attributes),
                    group_id=message.group_id,
                    deduplication_id=(message.deduplication_id or message.id) if destination.fifo_queue else None,
                )
            except Exception:
                message.change_visibility(0)
                raise
            with source._messages_lock:
                source._messages = [m for m in source._messages if m is not message]
            task.moved += 1
            if task.rate:
                time.sleep(1 / task.rate)
        with _lock:
            task.status = "CANCELLED" if task.cancelled.is_set() else "COMPLETED"
    except Exception as error:  # the task fails with the reason, as on AWS
        with _lock:
            task.failure = str(error)
            task.status = "FAILED"


def start_message_move_task(self):
    backend, source = _queue_by_arn(self._get_param("SourceArn"), "SourceArn")
    if not _sources_of(backend, source):
        raise _error("InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue.")
    destination_arn = self._get_param("DestinationArn") or None
    if destination_arn:
        destination = _queue_by_arn(destination_arn, "DestinationArn")[1]
        if destination.fifo_queue != source.fifo_queue:
            raise _error(
                "InvalidParameterValue",
                "The source queue and destination queue must be of the same queue type.",
            )
    rate = self._get_param("MaxNumberOfMessagesPerSecond")
    if rate is not None and not 1 <= int(rate) <= 500:
        raise _error(
            "InvalidParameterValue",
            f"Value {rate} for parameter MaxNumberOfMessagesPerSecond is invalid. "
            "Reason: Must be between 1 and 500, if provided.",
        )
    with _lock:
        tasks = _tasks(backend)
        if any(t.source_arn == source.queue_arn and t.status == "RUNNING" for t in tasks):
            raise _error(
                "InvalidParameterValue",
                "There is already a task running. Only one active task is allowed for a source "
                "queue arn at a given time.",
            )
        task = _Task(source, destination_arn, int(rate) if rate is not None else None)
        tasks.insert(0, task)
    threading.Thread(target=_move, args=(task, backend, source, destination_arn), daemon=True).start()
    return ActionResult({"TaskHandle": task.handle})


def list_message_move_tasks(self):
    backend, source = _queue_by_arn(self._get_param("SourceArn"), "SourceArn")
    max_results = self._get_param("MaxResults")
    max_results = 1 if max_results is None else int(max_results)
    if not 1 <= max_results <= 10:
        raise _error(
            "InvalidParameterValue",
            f"Value {max_results} for parameter MaxResults is invalid. Reason: Must be between 1 and 10, if provided.",
        )
    with _lock:
        tasks = [t for t in _tasks(backend) if t.source_arn == source.queue_arn][:max_results]
        return ActionResult({"Results": [t.entry() for t in tasks]})


def cancel_message_move_task(self):
    handle = self._get_param("TaskHandle") or ""
    try:
        source_arn = json.loads(base64.b64decode(handle, validate=True))["sourceArn"]
        backend = _queue_by_arn(source_arn, "SourceArn")[0]
    except (ValueError, KeyError, TypeError, SQSException):
        raise _error("ResourceNotFoundException", "The task handle specified is not valid or doesn't exist.")
    with _lock:
        task = next((t for t in _tasks(backend) if t.handle == handle), None)
        if task is None or task.status != "RUNNING":
            raise _error("ResourceNotFoundException", "Only tasks with status RUNNING can be cancelled.")
        task.cancelled.set()
        task.status = "CANCELLING"
        return ActionResult({"ApproximateNumberOfMessagesMoved": task.moved})


def apply():
    """Adds the three operations to moto's SQS; call before the server starts."""
    SQSResponse.start_message_move_task = start_message_move_task
    SQSResponse.list_message_move_tasks = list_message_move_tasks
    SQSResponse.cancel_message_move_task = cancel_message_move_task
