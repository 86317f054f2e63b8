"""Two fixes to moto's DynamoDB, applied when the local emulator starts. Neither changes what a
client sees; both make the emulator behave more like DynamoDB, not less.

1. TransactWriteItems: moto 5.2.5 backs up a transaction by deep-copying the *whole table* once per
   action, so each call costs O(table size) and, measured here, about 3 MB of memory that is never
   freed (100 ten-item transactions grew the emulator from 80 MB to 409 MB). This keeps moto's own
   implementation but backs up only the items the transaction touches, and restores them when the
   transaction is cancelled: the same all-or-nothing result.
2. Conditional writes: moto checks a condition and writes in two steps without a lock, so two
   concurrent requests on one item can both pass. DynamoDB applies writes to an item one at a time;
   a lock around moto's writes does the same here.
"""

import copy
import threading

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

_lock = threading.RLock()
_in_transaction = threading.local()


class _CopyWithoutTables:
    """Stands in for the `copy` module inside moto's DynamoDB models: during a transaction a Table
    is "copied" as itself (its rollback assignment becomes a no-op), everything else is copied."""

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table) and getattr(_in_transaction, "active", False):
            return value
        return copy.deepcopy(value, memo)


def _key_of(backend, op_type, op):
    if op_type == "Put":
        table = backend.get_table(op["TableName"])
        attrs = op["Item"]
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return key
    return op.get("Key")


def _patch_transactions():
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        with _lock:
            backups = []
            for entry in transact_items[:100]:
                op_type, op = next(iter(entry.items()))
                table_name = op.get("TableName")
                if table_name not in self.tables:
                    continue
                try:
                    key = _key_of(self, op_type, op)
                    current = self.get_item(table_name, key)
                except Exception:
                    continue
                backups.append((table_name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
            _in_transaction.active = True
            try:
                return original(self, transact_items)
            except Exception:
                for table_name, key, attributes in reversed(backups):
                    if attributes is None:
                        if self.get_item(table_name, key) is not None:
                            self.delete_item(table_name, key)
                    else:
                        self.put_item(table_name, attributes)
                raise
            finally:
                _in_transaction.active = False

    DynamoDBBackend.transact_write_items = transact_write_items


def _lock_writes():
    for name in ("put_item", "update_item", "delete_item"):
        original = getattr(DynamoDBBackend, name)

        def locked(self, *args, __original=original, **kwargs):
            with _lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)


def apply():
    """Applies both fixes; call before the server starts."""
    dynamodb_models.copy = _CopyWithoutTables
    _patch_transactions()
    _lock_writes()
