"""OCPP 2.0.1: the complete model (generated from the official schemas).

- :mod:`ocpp_fast.v201.messages`: ``<Action>Request`` / ``<Action>Response`` Structs;
- :mod:`ocpp_fast.v201.datatypes`: the data types they use;
- :mod:`ocpp_fast.v201.enums`: the enumerations, and ``enums.validate(name, value)``;
- :mod:`ocpp_fast.v201.actions`: ``ACTIONS``, each action's types and sender;
- :class:`ChargeSystem` and :class:`Charger`: subclass to handle the actions of your side.
"""

from ocpp_fast import dispatch
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast.v201 import actions, datatypes, enums, messages

__all__ = ["VERSION", "ChargeSystem", "Charger", "actions", "datatypes", "enums", "messages"]

VERSION = ProtocolVersion(
    "2.0.1",
    actions.ACTIONS,
    draft04_messages=actions.DRAFT04_MESSAGES,
    message_types=frozenset({2, 3, 4}),
    reply_to_unknown_message_type=True,
)
"""The rules of OCPP 2.0.1 for the codec and the connection (subprotocol ``ocpp2.0.1``)."""


class ChargeSystem(dispatch.ChargeSystem):
    """An OCPP 2.0.1 CSMS: subclass it and write a method per action stations send."""

    version = VERSION


class Charger(dispatch.Charger):
    """An OCPP 2.0.1 charging station: subclass it and write a method per action the CSMS sends."""

    version = VERSION
