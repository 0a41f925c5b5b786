"""SWiRL algorithms: policies, rollout, judging, filtering, decomposition, learners, evaluation."""
