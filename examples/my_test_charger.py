"""The seed's example station, ``MyTestCharger``: one method per action the CSMS sends.

Run it to see one frame handled::

    python examples/my_test_charger.py
"""

from __future__ import annotations

from my_test_charge_system import answer_data_transfer

from ocpp_fast import errors, v201
from ocpp_fast.v201 import datatypes, enums, messages


class MyTestCharger(v201.Charger):
    """A station with one EVSE whose availability and connector the CSMS controls."""

    def __init__(self) -> None:
        self.operational_status = enums.OperationalStatusEnumType.OPERATIVE
        self.started: list[messages.RequestStartTransactionRequest] = []

    def change_availability(
        self, request: messages.ChangeAvailabilityRequest
    ) -> messages.ChangeAvailabilityResponse:
        # The decoder already checked the enum; the seed's check works on any value.
        if not v201.enums.validate("OperationalStatusEnumType", request.operational_status):
            raise errors.PropertyConstraintViolationError("unknown operational status")
        self.operational_status = request.operational_status
        return messages.ChangeAvailabilityResponse(
            status=enums.ChangeAvailabilityStatusEnumType.ACCEPTED
        )

    def unlock_connector(
        self, request: messages.UnlockConnectorRequest
    ) -> messages.UnlockConnectorResponse:
        status = (
            enums.UnlockStatusEnumType.UNLOCKED
            if request.connector_id == 1
            else enums.UnlockStatusEnumType.UNKNOWN_CONNECTOR
        )
        return messages.UnlockConnectorResponse(status=status)

    def request_start_transaction(
        self, request: messages.RequestStartTransactionRequest
    ) -> messages.RequestStartTransactionResponse:
        self.started.append(request)
        return messages.RequestStartTransactionResponse(
            status=enums.RequestStartStopStatusEnumType.ACCEPTED
        )

    def get_variables(self, request: messages.GetVariablesRequest) -> messages.GetVariablesResponse:
        results = [
            datatypes.GetVariableResultType(
                attribute_status=enums.GetVariableStatusEnumType.ACCEPTED,
                component=item.component,
                variable=item.variable,
                attribute_value="42",
            )
            for item in request.get_variable_data
        ]
        return messages.GetVariablesResponse(get_variable_result=results)

    def data_transfer(self, request: messages.DataTransferRequest) -> messages.DataTransferResponse:
        return answer_data_transfer(request)


if __name__ == "__main__":
    station = MyTestCharger()
    frame = b'[2,"1","ChangeAvailability",{"operationalStatus":"Inoperative"}]'
    print(frame.decode(), "->", (station.handle(frame) or b"").decode())
    print("operational status is now", station.operational_status)
