"""OCPP 2.0.1: the complete model (generated from the official schemas).

- :mod:`ocpp_fast.v201.messages`: ``<Action>Request`` / ``<Action>Response`` Structs;
- :mod:`ocpp_fast.v201.datatypes`: the data types they use;
- :mod:`ocpp_fast.v201.enums`: the enumerations, and ``enums.validate(name, value)``;
- :mod:`ocpp_fast.v201.actions`: ``ACTIONS``, each action's types and sender.
"""

from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast.v201 import actions, datatypes, enums, messages

__all__ = ["VERSION", "actions", "datatypes", "enums", "messages"]

VERSION = ProtocolVersion(
    "2.0.1",
    actions.ACTIONS,
    message_types=frozenset({2, 3, 4}),
    reply_to_unknown_message_type=True,
)
"""The rules of OCPP 2.0.1 for the codec and the connection (subprotocol ``ocpp2.0.1``)."""
