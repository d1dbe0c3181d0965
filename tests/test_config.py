"""Guard configs in YAML: every field reaches the guard, every error names its line."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from confguard import registry
from confguard.cli import main
from confguard.config import MASK, build, load, resolved
from confguard.exceptions import ConfigurationError
from confguard.guard import AsyncGuard, Guard
from confguard.results import SignalResult
from confguard.routes import ReviewQueueRoute, WebhookRoute
from confguard.scoring.aggregate import WeightedCombiner
from confguard.scoring.calibration import PlattCalibrator
from confguard.signals import RetrievalSupport
from confguard.signals.token import AverageLogprob, MinTokenProbability
from confguard.store import InMemoryStore
from confguard.testing import FakeGenerator, make_observation

EXAMPLE = Path(__file__).parent.parent / "examples" / "guard.yaml"
ENV = {"ONCALL_TOKEN": "s3cret-token", "ONCALL_WEBHOOK_URL": "https://hooks.example/x"}


def _fixed(name: str = "fixed", value: float = 0.9) -> object:
    """A registry factory for a signal with a set confidence (no model, no tokens)."""
    from confguard.signals.base import FunctionSignal

    return FunctionSignal(lambda obs: SignalResult(name=name, confidence=value), name)


registry.register("signal", "test_config_fixed", _fixed, replace=True)


def write(tmp_path: Path, text: str, name: str = "guard.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


FULL = """
signals:
  - min_token_prob
  - type: avg_logprob
    params: {name: avg}
  - type: retrieval
    params: {low: 0.3, high: 0.7}
combiner:
  type: weighted
  params: {weights: {min_token_prob: 2.0}, default: 0.5}
calibrator:
  type: platt
  params: {slope: 2.0, intercept: -1.0, n: 50}
policy:
  thresholds: {accept: 0.8, escalate: 0.3}
  escalate: {route: review}
routes:
  review: {type: review_queue}
  oncall:
    type: webhook
    params:
      url: {env: ONCALL_WEBHOOK_URL}
      headers: {Authorization: "Bearer ${ONCALL_TOKEN}"}
      deadline: 3.0
store:
  url: sqlite:///STORE
  store_answers: true
  connect_timeout: 2
  statement_timeout: 1.5
  pool_timeout: null
  busy_timeout: 4.0
signal_timeout: {min_token_prob: 1.0, avg: null}
max_workers: 3
on_store_error: raise
spool: SPOOL
strategies: [rerank]
"""


def full_config(tmp_path: Path) -> Path:
    text = FULL.replace("STORE", str(tmp_path / "audit.sqlite"))
    return write(tmp_path, text.replace("SPOOL", str(tmp_path / "spool")))


# -- every field -------------------------------------------------------------------


def test_every_field_reaches_the_guard(tmp_path: Path, env: None) -> None:
    with Guard.from_config(full_config(tmp_path)) as guard:
        kinds = [type(s) for s in guard.signals]
        assert kinds == [MinTokenProbability, AverageLogprob, RetrievalSupport]
        assert [s.name for s in guard.signals] == ["min_token_prob", "avg", "retrieval"]
        retrieval = guard.signals[2]
        assert isinstance(retrieval, RetrievalSupport)
        assert (retrieval.low, retrieval.high) == (0.3, 0.7)
        assert isinstance(guard.combiner, WeightedCombiner)
        assert dict(guard.combiner.weights) == {"min_token_prob": 2.0}
        assert guard.combiner.default == 0.5
        assert guard.calibrator == PlattCalibrator(slope=2.0, intercept=-1.0, n=50)
        assert guard.policy.thresholds.escalate == 0.3
        assert guard.timeouts["min_token_prob"] == 1.0
        assert guard.timeouts["avg"] is None
        core = guard._core
        assert core.max_workers == 3
        assert core.on_store_error == "raise"
        assert str(core.spool) == str(tmp_path / "spool")
        assert isinstance(core.routes["review"], ReviewQueueRoute)
        assert core.routes["review"].store is core.store


def test_routes_read_secrets_from_the_environment(tmp_path: Path, env: None) -> None:
    with Guard.from_config(full_config(tmp_path)) as guard:
        webhook = guard._core.routes["oncall"]
    assert isinstance(webhook, WebhookRoute)
    assert webhook.url == ENV["ONCALL_WEBHOOK_URL"]
    assert webhook.headers == {"Authorization": "Bearer s3cret-token"}
    assert webhook.deadline == 3.0


def test_the_store_gets_its_url_and_options(tmp_path: Path, env: None) -> None:
    with Guard.from_config(full_config(tmp_path)) as guard:
        store = guard._core.store
        assert store is not None
        assert store.store_answers is True  # type: ignore[attr-defined]
        limits = store.limits  # type: ignore[attr-defined]
        assert (limits.connect, limits.statement, limits.pool, limits.busy) == (
            2,
            1.5,
            None,
            4.0,
        )
        store.close()  # type: ignore[attr-defined]
    assert (tmp_path / "audit.sqlite").is_file()


def test_a_memory_store_and_a_single_timeout(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        signals: [min_token_prob, avg_logprob]
        store: {url: "memory://", store_answers: true}
        signal_timeout: 2
        """,
    )
    with Guard.from_config(path) as guard:
        assert isinstance(guard._core.store, InMemoryStore)
        assert guard._core.store.store_answers is True
        assert dict(guard.timeouts) == {"min_token_prob": 2.0, "avg_logprob": 2.0}


def test_left_out_fields_keep_the_guards_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "signals: [min_token_prob]\n")
    with Guard.from_config(path) as guard, Guard([MinTokenProbability()]) as plain:
        assert guard.policy == plain.policy
        assert dict(guard.timeouts) == dict(plain.timeouts)
        assert guard._core.max_workers == plain._core.max_workers
        assert guard._core.store is None and guard.calibrator is None


def test_the_policy_section_is_the_policys_own_parser(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        signals: [min_token_prob]
        policy:
          thresholds: {accept: 0.9, annotate: 0.5}
          combiner: minimum
          retry:
            max_attempts: 2
            strategies: [{name: temperature, params: {temperature: 0.0}}]
        """,
    )
    with Guard.from_config(path) as guard:
        assert guard.policy.thresholds.annotate == 0.5
        assert guard.combiner.name == "minimum"  # type: ignore[attr-defined]
        assert guard.policy.retry.strategies[0].name == "temperature"


def test_resources_reach_the_signals_that_need_them(tmp_path: Path) -> None:
    path = write(tmp_path, "signals: [{type: judge, params: {samples: 2}}]\n")
    generator = FakeGenerator(["0.9"])
    with Guard.from_config(path, generator=generator) as guard:
        assert guard.signals[0].name == "judge_correctness"
    with pytest.raises(ConfigurationError, match=r"needs a generator: pass it as"):
        Guard.from_config(path)
    parts = build(load(path), dry_run=True)  # validate stands in for it, and says so
    assert parts.needs == ("generator= (signals[0] judge)",)
    assert parts.signals[0].name == "judge_correctness"  # the real signal's name


def test_policy_rules_flow_through_to_decide(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        signals: [min_token_prob, {type: test_config_fixed, params: {value: 0.99}}]
        policy:
          thresholds: {accept: 0.5}
          rules:
            - when: {signal: min_token_prob, confidence: {lt: 0.5}}
              then: abstain
        """,
    )
    with Guard.from_config(path) as guard:
        low = guard.check(make_observation(probs=[0.99, 0.2]))
        high = guard.check(make_observation(probs=[0.99, 0.9]))
    assert (low.decision.action, high.decision.action) == ("abstain", "accept")


def test_a_bad_rule_is_located_in_the_config(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        signals: [min_token_prob]
        policy:
          rules:
            - when: {signal: min_token_prob, confidence: {lx: 0.5}}
              then: abstain
        """,
    )
    with pytest.raises(ConfigurationError, match=r"line 4, policy\.rules\[0\]\.when"):
        Guard.from_config(path)


# -- end to end --------------------------------------------------------------------

E2E = """
signals:
  - min_token_prob
  - avg_logprob
policy:
  thresholds: {accept: 0.8, escalate: 0.3}
  escalate: {route: review}
routes:
  review: {type: review_queue}
store: {url: "memory://"}
"""


def test_a_config_builds_a_guard_that_checks_an_observation(tmp_path: Path) -> None:
    with Guard.from_config(write(tmp_path, E2E)) as guard:
        sure = guard.check(make_observation(probs=[0.95, 0.9]))
        unsure = guard.check(make_observation(probs=[0.5, 0.4]))
        store = guard._core.store
    assert sure.decision.action == "accept"
    assert {r.name for r in sure.assessment.signals} == {
        "min_token_prob",
        "avg_logprob",
    }
    assert unsure.decision.action == "escalate"
    assert isinstance(store, InMemoryStore)
    assert len(store.pending_reviews()) == 1


def test_the_async_guard_is_built_from_the_same_file(tmp_path: Path) -> None:
    async def check() -> str:
        async with AsyncGuard.from_config(write(tmp_path, E2E)) as guard:
            result = await guard.acheck(make_observation(probs=[0.95, 0.9]))
            return result.decision.action

    assert asyncio.run(check()) == "accept"


def test_a_registered_signal_is_named_like_a_builtin(tmp_path: Path) -> None:
    text = "signals: [{type: test_config_fixed, params: {value: 0.2}}]\n"
    with Guard.from_config(write(tmp_path, text)) as guard:
        result = guard.check(make_observation())
    assert result.confidence == pytest.approx(0.2)
    assert result.decision.action == "abstain"


def test_the_worked_example_validates_and_builds(
    env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # its sqlite store is a relative path
    parts = build(load(EXAMPLE), dry_run=True)
    assert [s.name for s in parts.signals][-1] == "support"
    with Guard.from_config(EXAMPLE) as guard:
        assert guard.check(make_observation(probs=[0.99])).decision is not None
        guard._core.store.close()  # type: ignore[union-attr]


# -- every error -------------------------------------------------------------------

ERRORS = [
    pytest.param(
        "signals:\n  - min_token_prob\n  - min_token_probability\n",
        "line 3, signals[1].type: unknown signal 'min_token_probability'; known: ",
        id="unknown signal",
    ),
    pytest.param(
        "signals:\n  - type: retrieval\n    params:\n      low: 0.2\n      top_k: 5\n",
        "line 5, signals[0].params.top_k: unknown parameter of 'retrieval'; "
        "its parameters: high, low, name",
        id="unknown parameter",
    ),
    pytest.param(
        "signals: [min_token_prob]\nroutes:\n  hook:\n    type: webhook\n"
        "    params: {url: 'https://x', deadline: 0}\n",
        "line 5, routes.hook.params: deadline must be > 0 seconds, got 0",
        id="bad parameter value",
    ),
    pytest.param(
        "signals: [min_token_prob]\nroutes:\n  hook: {type: webhook}\n",
        "line 3, routes.hook.params: 'webhook' needs the parameter 'url'",
        id="missing parameter",
    ),
    pytest.param(
        "signals: [min_token_prob]\nroutes:\n  hook:\n    type: webhook\n"
        "    params:\n      url: ${NO_SUCH_VARIABLE_X}\n",
        "line 6, routes.hook.params.url: the environment variable NO_SUCH_VARIABLE_X "
        "is not set",
        id="missing env var",
    ),
    pytest.param(
        "signals: [min_token_prob]\nroutes:\n  hook:\n    type: webhook\n"
        "    params:\n      url: {env: NO_SUCH_VARIABLE_Y}\n",
        "line 6, routes.hook.params.url: the environment variable NO_SUCH_VARIABLE_Y",
        id="missing env var (mapping form)",
    ),
    pytest.param(
        "signals: [min_token_prob]\nmax_workers: 2\nmax_workers: 4\n",
        "line 3: the key 'max_workers' is given twice (first at line 2)",
        id="duplicate key",
    ),
    pytest.param(
        "signals: [min_token_prob]\nmax_workers: '8'\n",
        "line 2, max_workers: expected a whole number, got '8'",
        id="wrong type",
    ),
    pytest.param(
        "signals: [min_token_prob]\nmax_workers: 0\n",
        "line 2, max_workers: must be >= 1, got 0",
        id="out of range",
    ),
    pytest.param(
        "signals: [min_token_prob]\nstore:\n  url: memory://\n  store_answers: 'yes'\n",
        "line 4, store.store_answers: expected true or false, got 'yes'",
        id="wrong type (bool)",
    ),
    pytest.param(
        "signals: [min_token_prob]\nsignal_timeout: {min_token_prob: fast}\n",
        "line 2, signal_timeout: the timeout of 'min_token_prob' must be seconds",
        id="wrong type (timeout)",
    ),
    pytest.param(
        "signals: [min_token_prob]\npolcy: {}\n",
        "line 2, polcy: unknown field (did you mean 'policy'?); the fields are: "
        "signals, combiner",
        id="unknown top-level key",
    ),
    pytest.param(
        "signals:\n  - name: retrieval\n",
        "line 2, signals[0].name: unknown field; a component's registry name is "
        "`type:`",
        id="name for type",
    ),
    pytest.param(
        "signals: [min_token_prob]\nstore: {url: not a url}\n",
        "line 2, store.url: not a database URL; e.g. sqlite:///audit.sqlite",
        id="bad store URL",
    ),
    pytest.param(
        "signals: [min_token_prob]\nstore:\n  url: nosuchdb://host/x\n",
        "line 3, store.url: unknown database 'nosuchdb'",
        id="unknown database",
    ),
    pytest.param(
        "signals: [min_token_prob]\nstore: {store_answers: true}\n",
        "line 2, store.url: required",
        id="store without url",
    ),
    pytest.param(
        "signals: [min_token_prob]\npolicy:\n  thresholds:\n    accept: 1.4\n",
        "line 4, policy.thresholds.accept: must be in [0, 1], got 1.4",
        id="policy field",
    ),
    pytest.param(
        "signals: [min_token_prob]\npolicy:\n  thresholds: {accept: 0.8, escalate: 0.2}"
        "\n  escalate: {route: pager}\n",
        "line 4, policy.escalate.route: unknown route 'pager'; known: none",
        id="policy names no given route",
    ),
    pytest.param(
        "signals: [min_token_prob]\npolicy:\n  retry:\n    strategies:\n"
        "      - {name: temperature, params: {temp: 0.0}}\n",
        "line 5, policy.retry.strategies[0].params: ",
        id="policy strategy params",
    ),
    pytest.param(
        "signals: [min_token_prob]\npolicy:\n  thresholds: {accept: 0.5}\n  rules:\n"
        "    - when: {signal: judge, confidence: {lt: 0.5}}\n      then: abstain\n",
        "line 5, policy.rules[0].when.signal: unknown signal (in policy rules) "
        "'judge'; known: min_token_prob",
        id="a rule names no given signal",
    ),
    pytest.param(
        "signals: [min_token_prob]\npolicy:\n  combiner: weighted\n  weights:\n"
        "    judge: 2.0\n",
        "line 5, policy.weights.judge: unknown signal (in policy weights) 'judge'",
        id="weights name no given signal",
    ),
    pytest.param(
        "signals: [min_token_prob]\nroutes:\n  review: {type: review_queue}\n",
        "line 3, routes.review.params: 'review_queue' needs the audit store: "
        "set store.url",
        id="review queue without a store",
    ),
    pytest.param(
        "signals: [min_token_prob]\nroutes:\n  review: {type: pager}\n",
        "line 3, routes.review.type: unknown route 'pager'; known: review_queue, "
        "webhook",
        id="unknown route type",
    ),
    pytest.param(
        "signals: [min_token_prob]\ncombiner: median\n",
        "line 2, combiner.type: unknown combiner 'median'",
        id="unknown combiner",
    ),
    pytest.param(
        "signals: [min_token_prob]\ncombiner: minimum\npolicy: {combiner: mean}\n",
        "line 2, combiner: give the combiner here or as policy.combiner, not both",
        id="combiner twice",
    ),
    pytest.param(
        "signals: [min_token_prob]\ncalibrator: {type: platt, params: {slope: 1.0}}\n",
        "line 2, calibrator.params: 'platt' needs the parameter 'intercept'",
        id="calibrator missing parameter",
    ),
    pytest.param(
        "signals: [min_token_prob]\nsignal_timeout:\n  avg_logprob: 1.0\n",
        "line 3, signal_timeout.avg_logprob: unknown signal 'avg_logprob'; known: "
        "min_token_prob",
        id="timeout of an unknown signal",
    ),
    pytest.param(
        "signals:\n  - min_token_prob\n  - min_token_prob\n",
        "line 3, signals[1]: a second signal named 'min_token_prob'",
        id="two signals, one name",
    ),
    pytest.param(
        "signals: []\n", "line 1, signals: give at least one", id="no signals"
    ),
    pytest.param("policy: {}\n", "signals: required", id="signals left out"),
    pytest.param(
        "signals: [min_token_prob]\non_store_error: ignore\n",
        "line 2, on_store_error: unknown value 'ignore'; expected 'spool' or 'raise'",
        id="bad literal",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ERRORS)
def test_an_error_names_the_file_line_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as caught:
        Guard.from_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}"), message
    assert expected in message, message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "a guard config is a mapping with at least `signals:`, got nothing"),
        ("# only a comment\n", "got nothing"),
        ("- min_token_prob\n", "got list"),
        ("signals: [min_token_prob\n", "is malformed at line 2"),
    ],
)
def test_a_file_that_is_no_config_is_named(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError, match=str(path)) as caught:
        load(path)
    assert expected in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigurationError, match=r"config file not found: .*nope\.yaml"
    ):
        Guard.from_config(tmp_path / "nope.yaml")


def test_an_error_is_a_configuration_error_and_never_a_policy_error(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "signals: [min_token_prob]\nsignals: [avg_logprob]\n")
    with pytest.raises(ConfigurationError) as caught:
        load(path)
    assert type(caught.value) is ConfigurationError


# -- show --------------------------------------------------------------------------


def test_resolved_fills_in_defaults_and_masks_secrets(
    tmp_path: Path, env: None
) -> None:
    view = resolved(load(full_config(tmp_path)))
    assert view["signals"][2] == {
        "type": "retrieval",
        "params": {"low": 0.3, "high": 0.7, "name": "retrieval"},
    }
    webhook = view["routes"]["oncall"]["params"]
    assert webhook["url"] == MASK
    assert webhook["headers"] == {"Authorization": MASK}
    assert webhook["timeout"] == 10.0  # a default, filled in
    assert view["routes"]["review"]["params"]["store"] == "<the audit store>"
    assert view["policy"]["abstain"]["raise_error"] is False  # the policy's default
    assert view["policy"]["combiner"] == "(the combiner above)"
    assert view["max_workers"] == 3


def test_resolved_masks_a_store_password(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "signals: [min_token_prob]\n"
        "store: {url: 'postgresql+psycopg://app:hunter2@db/confguard'}\n",
    )
    view = resolved(load(path))
    assert view["store"]["url"] == "postgresql+psycopg://app:***@db/confguard"
    assert view["signal_timeout"] == "(each signal's own)"


# -- the command -------------------------------------------------------------------


def test_validate_prints_one_line_and_exits_0(
    tmp_path: Path, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = full_config(tmp_path)
    assert main(["config", "validate", str(path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        f"{path}: ok: 3 signals (min_token_prob, avg, retrieval), combiner "
        "weighted, 2 routes (review, oncall), store sqlite"
    ]
    assert not (tmp_path / "audit.sqlite").exists()  # validate opens no store


def test_validate_names_a_fitted_combiner_by_its_kind(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["config", "validate", "balanced"]) == 0
    line = capsys.readouterr().out.strip()
    assert any(f"combiner {k} (fitted)" in line for k in ("logistic", "stratified"))
    assert "coefficients" not in line  # one line, not the fitted parameters
    assert "1 stratum ('retrieved')" in line


def test_validate_reports_one_error_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "signals:\n  - no_such_signal\n")
    assert main(["config", "validate", str(path)]) == 2
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {path}, line 2, signals[0].type: unknown")


def test_show_prints_the_resolved_config_with_secrets_masked(
    tmp_path: Path, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "show", str(full_config(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "type: retrieval" in out and "high: 0.7" in out
    assert "deadline: 3.0" in out and "backoff_seconds: 0.5" in out
    assert "s3cret-token" not in out and ENV["ONCALL_WEBHOOK_URL"] not in out
    assert "Authorization: '***'" in out


def test_show_help_says_presets_come_later(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "a guard config file" in out and "presets" in out
