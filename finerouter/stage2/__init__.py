"""Stage 2: the task classifier and the mixture-of-experts quality estimator, trained on Ray Train."""
