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
    ]
    outcomes = route_grouped(router, queries)
    assert len(outcomes) == len(queries)
    assert outcomes[1].decision is None and "empty" in outcomes[1].error
    assert outcomes[4].decision is None and "no-such-model" in outcomes[4].error
    for query, outcome in zip(queries, outcomes, strict=True):
        if outcome.error is not None:
            continue
        alone = router.route([query.prompt], tolerance=query.tolerance, max_cost=query.max_cost,
                             models=list(query.models) if query.models else None)[0]  # fmt: skip
        assert outcome.decision.model == alone.model and outcome.decision.task_id == alone.task_id
    assert outcomes[2].decision.model == cheap and outcomes[5].decision.model == cheap
    assert router.model_cost[outcomes[6].decision.model] <= router.model_cost[cheap]
