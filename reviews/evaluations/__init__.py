"""Evaluations (scorecards): scoring, automatic answers, the human workflow and coverage (issue 13 §2)."""
