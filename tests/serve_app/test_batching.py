"""The Router deployment's batch logic, without Serve: grouping by options, isolating bad requests."""

from __future__ import annotations

from serve_app.router_deployment import RouteQuery, route_grouped


def test_route_grouped_matches_single_calls_and_isolates_errors(router_bundle) -> None:
    _, _, router = router_bundle
    cheap = min(router.models, key=lambda m: router.model_cost[m])
    long_prompt = "Solve step by step: " + "a train leaves the station and accelerates; " * 40
    queries = [
        RouteQuery("What is the derivative of x^3?"),
        RouteQuery("   "),  # empty: rejected alone
        RouteQuery("Write a python function that parses ISO dates.", tolerance=1e9),
        RouteQuery(long_prompt),
        RouteQuery("Name the capital of Peru.", models=("no-such-model",)),  # unknown model: rejected alone
        RouteQuery("Translate 'good morning' to French.", models=(cheap,)),
        RouteQuery("What is the derivative of x^3?", max_cost=router.model_cost[cheap]),
        RouteQuery("Write a python function that parses ISO dates.", willingness=1e9),
        RouteQuery("Name the capital of Peru.", tolerance=0.1, willingness=0.5),  # both: rejected alone
    ]
    outcomes = route_grouped(router, queries)
    assert len(outcomes) == len(queries)
    assert outcomes[1].decision is None and "empty" in outcomes[1].error
    assert outcomes[4].decision is None and "no-such-model" in outcomes[4].error
    assert outcomes[8].decision is None and "not both" in outcomes[8].error
    for query, outcome in zip(queries, outcomes, strict=True):
        if outcome.error is not None:
            continue
        models = list(query.models) if query.models else None
        alone = router.route([query.prompt], tolerance=query.tolerance, max_cost=query.max_cost, models=models,
                             willingness=query.willingness)[0]  # fmt: skip
        assert outcome.decision.model == alone.model and outcome.decision.task_id == alone.task_id
    assert outcomes[2].decision.model == cheap and outcomes[5].decision.model == cheap
    assert outcomes[7].decision.model == cheap
    assert router.model_cost[outcomes[6].decision.model] <= router.model_cost[cheap]


class _FailsOn:
    """The real router, except that a prompt holding `marker` raises `error` (as a tokenizer fault would)."""

    def __init__(self, router, marker: str, error: Exception) -> None:
        self._router, self._marker, self._error = router, marker, error
        self.calls = 0

    def route(self, prompts, **kwargs):
        self.calls += 1
        if any(self._marker in prompt for prompt in prompts):
            raise self._error
        return self._router.route(prompts, **kwargs)


def test_any_failure_fails_only_its_own_query(router_bundle) -> None:
    """A query whose routing raises something other than InvalidRequestError (a TypeError from the tokenizer, a
    bug) fails alone, as an internal error; its neighbours in the same group get their decisions."""
    _, _, router = router_bundle
    prompts = [f"Question {i}: what is {i} * 7?" for i in range(6)]
    prompts[3] = "POISON " + prompts[3]
    faulty = _FailsOn(router, "POISON", TypeError("TextEncodeInput must be Union[TextInputSequence, ...]"))
    outcomes = route_grouped(faulty, [RouteQuery(p) for p in prompts])
    assert len(outcomes) == 6
    assert outcomes[3].decision is None and outcomes[3].error is None
    assert outcomes[3].internal_error.startswith("TypeError: TextEncodeInput")
    expected = router.route([p for i, p in enumerate(prompts) if i != 3])
    got = [o.decision for i, o in enumerate(outcomes) if i != 3]
    assert [(d.model, d.task_id) for d in got] == [(d.model, d.task_id) for d in expected]


def test_an_outcome_raises_its_own_failure() -> None:
    import pytest

    from finerouter.errors import InvalidRequestError
    from serve_app.router_deployment import RouteOutcome, RoutingFailure

    with pytest.raises(InvalidRequestError, match="empty"):
        RouteOutcome(error="prompt 0 is empty").result()
    with pytest.raises(RoutingFailure, match="TypeError: boom"):
        RouteOutcome(internal_error="TypeError: boom").result()


def test_a_lone_surrogate_is_an_invalid_request_not_a_batch_failure(router_bundle) -> None:
    """The real tokenizer raises TypeError on a lone surrogate; the router refuses such text as invalid (a 400),
    naming the prompt, and the rest of the batch is routed."""
    _, _, router = router_bundle
    queries = [RouteQuery("What is 2 + 2?"), RouteQuery("bad \ud800 text"), RouteQuery("Name a prime above 10.")]
    outcomes = route_grouped(router, queries)
    assert outcomes[1].decision is None and "not valid Unicode" in outcomes[1].error
    assert outcomes[0].decision is not None and outcomes[2].decision is not None
