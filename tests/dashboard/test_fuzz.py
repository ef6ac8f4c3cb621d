"""Generated requests against every form field and every page and API query parameter: whatever
comes in, the answer is never a server error. FUZZ_EXAMPLES sets how many examples each test
draws (default 40; the closing figures used 400)."""
import os

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from hypothesis import HealthCheck, given, settings, strategies as st

from dashboard import executor
from dashboard.asgi import application
from dashboard.forms import ExperimentForm, LB_REMEDY_FIELDS, OPTION_FIELDS, SPEC_FIELDS
from dashboard.models import Analysis, Experiment, ShareLink, Status
from tests.dashboard.conftest import TINY
from trainer.analysis.by_name import SCHEMAS

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
fuzzed = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# What people and scripts type: numbers of every size and kind, lists, and the strings that broke things.
NASTY = st.sampled_from([
    "", " ", "0", "-1", "1", "2", "0.5", "1e400", "-1e400", "nan", "NaN", "inf", "-inf", "1" + "0" * 400,
    str(10 ** 20), "9223372036854775808", "-9223372036854775809", "16 32 inf", "16, 32, nan", "0,001", "1e-400",
    "\x00", "a\x00b", "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd", "%00", "true", "[]", "{}",
    "16 " * 300, ",", "1,,2", "sgd", "adam", "sam", "mnist1d", "mlp", "gap", "sweep", "remedies", "custom",
])
VALUE = st.one_of(NASTY, st.text(max_size=30), st.integers().map(str),
                  st.floats(allow_nan=True, allow_infinity=True).map(repr))
FORM_FIELDS = ["name", "preset", "kind", *SPEC_FIELDS, *OPTION_FIELDS, *(f"lb_{n}" for n in LB_REMEDY_FIELDS)]


def _no_server_error(response, what):
    assert response.status_code < 500, f"{what}: {response.status_code}\n{response.content[:2000]!r}"


@pytest.fixture
def world(alice, bob):
    """alice's experiment with a finished run, an analysis and a share link; clients for alice and a stranger."""
    exp = Experiment.objects.create(owner=alice, name="fuzzed", config=TINY.to_dict())
    runs = executor.create_runs(exp)
    runs[0].claim("t")
    runs[0].finish(Status.DONE, final_metrics={"test_acc": 0.5})
    analysis = Analysis.objects.create(experiment=exp, run=runs[0], kind="sharpness", status=Status.DONE,
                                       result={"epsilons": [0.001]})
    link = ShareLink.objects.create(experiment=exp)
    owner = Client(raise_request_exception=False)
    owner.force_login(alice)
    return {"experiment": exp, "run": runs[0], "analysis": analysis, "token": link.token, "owner": owner,
            "stranger": Client(raise_request_exception=False)}


@fuzzed
@given(changes=st.dictionaries(st.sampled_from(FORM_FIELDS), VALUE, max_size=6),
       preset=st.sampled_from(["gap", "sharpness", "sweep", "remedies", "warmstart", "parametric", "trajectory"]))
def test_the_form_and_its_estimate_never_answer_a_server_error(world, changes, preset):
    data = {k: (", ".join(v) if isinstance(v, list) else v)
            for k, v in ExperimentForm.initial_for(preset).items() if v is not None}
    data.update(changes)
    _no_server_error(world["owner"].get("/experiments/estimate/", data), f"estimate {changes}")
    _no_server_error(world["owner"].post("/experiments/new/", data), f"new {changes}")


PAGES = ["/experiments/{e}/", "/experiments/{e}/runs/", "/experiments/{e}/sections/", "/experiments/{e}/export.csv",
         "/experiments/{e}/export.json", "/experiments/{e}/tables/{v}.csv", "/experiments/{e}/tables/gap.{v}",
         "/api/experiments/{e}/", "/api/runs/{r}/", "/api/runs/{r}/metrics/", "/analyses/{a}/",
         "/analyses/{a}/status.json", "/analyses/{a}/export.json", "/analyses/{a}/export.csv", "/share/{v}/",
         "/share/{t}/", "/compare/", "/experiments/", "/api/experiments/"]
PARAMS = ["token", "after_seq", "name", "known", "runs"]


@fuzzed
@given(page=st.sampled_from(PAGES), params=st.dictionaries(st.sampled_from(PARAMS), VALUE, max_size=4),
       as_owner=st.booleans(), value=VALUE.filter(lambda v: "/" not in v and "?" not in v and "#" not in v))
def test_pages_and_the_api_never_answer_a_server_error(world, page, params, as_owner, value):
    path = page.format(e=world["experiment"].pk, r=world["run"].pk, a=world["analysis"].pk, t=world["token"],
                       v=value or "x")
    params = {k: (world["token"] if v == "token" else v) for k, v in params.items()}
    client = world["owner"] if as_owner else world["stranger"]
    _no_server_error(client.get(path, params), f"GET {path} {params}")


ANALYSIS_FIELDS = sorted({"kind", "run", "run_b", "epoch", *(n for schema in SCHEMAS.values() for n in schema)})


@fuzzed
@given(fields=st.dictionaries(st.sampled_from(ANALYSIS_FIELDS), VALUE, max_size=6),
       kind=st.sampled_from([*SCHEMAS, "bogus"]))
def test_requesting_an_analysis_never_answers_a_server_error(world, fields, kind):
    data = {"kind": kind, "run": str(world["run"].pk), **fields}
    path = f"/experiments/{world['experiment'].pk}/analyses/"
    _no_server_error(world["owner"].post(path, data), f"POST {path} {data}")


@pytest.mark.django_db(transaction=True)  # the consumer reads the database from another thread
@fuzzed
@given(segment=st.one_of(NASTY, st.text(alphabet="abc0123456789-_.%", max_size=25)),
       token=st.one_of(st.none(), NASTY))
def test_a_stream_on_any_path_is_refused_or_accepted_never_a_server_error(world, segment, token):
    path = f"/ws/experiments/{segment}/" + (f"?token={token}" if token is not None else "")

    async def connect():
        communicator = WebsocketCommunicator(application, path, headers=[(b"host", b"testserver"),
                                                                          (b"origin", b"http://testserver")])
        try:
            connected, code = await communicator.connect(timeout=5)
        finally:
            await communicator.disconnect()
        return connected, code

    connected, code = async_to_sync(connect)()
    if not connected:
        assert code == 4403 or code == 4404, f"{path}: closed with {code}"
