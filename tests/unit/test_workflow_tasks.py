"""The Step Functions task handlers: each passes the state's input to its workflow method, errors keep their names."""

import pytest
from sqlalchemy.exc import OperationalError

from chalicelib.bootstrap import Container, set_container
from chalicelib.entrypoints import workflow_tasks
from chalicelib.entrypoints.workflow_tasks import DatabaseUnavailable

KEY = "01JDQ7Z8K3M4N5P6Q7R8S9T0VW"
FACTS = {"role": "REQUESTER", "person_type": "PJ", "document": "11222333000181", "amount": "10.00"}


class Recorder:
    """Stands in for the workflow and the redrive: answers every method with its name and arguments."""

    def __init__(self, raises: Exception | None = None):
        self.raises = raises

    def __getattr__(self, method):
        def call(*args):
            if self.raises is not None:
                raise self.raises
            return {"method": method, "args": list(args)}

        return call


@pytest.fixture()
def recorded():
    c = Container(settings=object())
    c.workflow = Recorder()
    c.redrive = Recorder()
    set_container(c)
    yield c
    set_container(None)


@pytest.mark.parametrize(
    "task, event, called",
    [
        ("load_order", {"order_key": KEY, "execution_id": "arn:e"}, ("load_order", [KEY, "arn:e"])),
        # an execution whose state machine passes no party facts: the workflow reads the order
        ("fetch_powers", {"order_key": KEY, "position": "2"}, ("fetch_powers", [KEY, 2, None])),
        ("fetch_people", {"order_key": KEY, "position": 1}, ("fetch_people", [KEY, 1])),
        ("check_operators", {"order_key": KEY, "position": 0}, ("check_operators", [KEY, 0, None])),
        ("decide_party", {"order_key": KEY, "position": 3}, ("decide_party", [KEY, 3, None])),
        ("evaluate_person", {"order_key": KEY, "position": 4}, ("evaluate_person", [KEY, 4, None])),
        # the party's facts from its Map item go along
        ("fetch_powers", {"order_key": KEY, "position": 2, "party": FACTS}, ("fetch_powers", [KEY, 2, FACTS])),
        ("check_operators", {"order_key": KEY, "position": 0, "party": FACTS}, ("check_operators", [KEY, 0, FACTS])),
        ("decide_party", {"order_key": KEY, "position": 3, "party": FACTS}, ("decide_party", [KEY, 3, FACTS])),
        ("evaluate_person", {"order_key": KEY, "position": 4, "party": FACTS}, ("evaluate_person", [KEY, 4, FACTS])),
        ("conclude_order", {"order_key": KEY, "execution_id": "arn:e"}, ("conclude_order", [KEY, "arn:e"])),
        (
            "record_failure",
            {"order_key": KEY, "execution_id": "arn:e", "error": {"Error": "X"}},
            ("record_failure", [KEY, "arn:e", {"Error": "X"}]),
        ),
        ("record_failure", {"order_key": KEY, "execution_id": "arn:e"}, ("record_failure", [KEY, "arn:e", None])),
        ("publish_result", {"order_key": KEY}, ("publish_result", [KEY])),
        (
            "park_order",
            {"order_key": KEY, "execution_id": "arn:e", "error": {"Error": "Y"}},
            ("park", [KEY, "arn:e", {"Error": "Y"}]),
        ),
    ],
)
def test_each_task_calls_its_method_with_the_fields_of_the_state_input(recorded, task, event, called):
    import app

    answer = app.app.handler_map[task](event, None)
    assert (answer["method"], answer["args"]) == called


def test_each_task_is_a_module_attribute_named_as_its_lambda_handler_string():
    import app

    for fn in app.app.pure_lambda_functions:
        module, name = fn.handler_string.rsplit(".", 1)
        assert module == workflow_tasks.__name__
        assert getattr(workflow_tasks, name) is app.app.handler_map[fn.name]


def test_a_database_outage_leaves_as_database_unavailable(recorded):
    recorded.workflow = Recorder(OperationalError("SELECT 1", {}, Exception('(2003, "Can\'t connect")')))
    with pytest.raises(DatabaseUnavailable) as info:
        workflow_tasks.load_order({"order_key": KEY, "execution_id": "arn:e"}, None)
    assert isinstance(info.value.__cause__, OperationalError)


def test_any_other_error_leaves_with_its_own_name(recorded):
    class PartnerUnavailable(Exception):
        pass

    recorded.workflow = Recorder(PartnerUnavailable("poderes"))
    with pytest.raises(PartnerUnavailable):
        workflow_tasks.fetch_powers({"order_key": KEY, "position": 0}, None)
